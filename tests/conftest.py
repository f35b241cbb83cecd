import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from config.web import ADMIN_GROUP

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_user(db):
    user = get_user_model().objects.create_user("alice", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=ADMIN_GROUP)[0])
    return user


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def member_client(client, db):
    """Logged in, but without the Admin role."""
    user = get_user_model().objects.create_user("bob", password=PASSWORD)
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client.force_login(user)
    return client


@pytest.fixture
def receiver():
    from tests.support.receiver import Receiver

    running = Receiver().start()
    yield running
    running.stop()
