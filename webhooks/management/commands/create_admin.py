import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from config.web import ADMIN_GROUP


def ensure_admin(username: str, password: str, email: str = ""):
    """Create or update ``username`` as a member of the Admin group with ``password``."""
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.is_active = True
    user.save()
    group, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    user.groups.add(group)
    return user


class Command(BaseCommand):
    help = "Create a portal user with the Admin role (or reset an existing one's password)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password",
            help="Defaults to a new random password, printed once.",
        )

    def handle(self, username, email, password, **options):
        if not username.strip():
            raise CommandError("The username cannot be blank.")
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        ensure_admin(username, password, email)
        self.stdout.write(f"Admin user “{username}” is ready.")
        if generated:
            self.stdout.write(f"Password: {password}")
