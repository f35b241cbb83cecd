"""Stats pages beyond the dashboard (per webhook)."""

app_name = "stats"

urlpatterns = []
