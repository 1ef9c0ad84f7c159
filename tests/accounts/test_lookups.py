import pytest

from accounts.models import ApiToken, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_any_finds_the_rows_whose_field_is_among_the_values_sent_as_one_parameter():
    users = UserFactory.create_batch(3)
    ApiToken.objects.create(user=users[0], name="a", key_hash="x" * 64, prefix="x")
    wanted = [users[0].id, users[2].id, 10**9]
    query = User.objects.filter(id__any=wanted).values_list("id", flat=True)
    sql, params = query.query.sql_with_params()
    assert (sql.count("%s"), params) == (1, (wanted,))  # one placeholder however many values
    assert set(query) == {users[0].id, users[2].id}
    tokens = ApiToken.objects.filter(user_id__any=wanted).values_list("user_id", flat=True)
    assert list(tokens) == [users[0].id]
    assert not User.objects.filter(id__any=[]).exists()
