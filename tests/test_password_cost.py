"""The suite hashes passwords cheaply (tests/conftest.py); the service must not."""

import subprocess
import sys

from service.accounts import users
from tests.factories import PASSWORD


def test_outside_the_suite_passwords_get_werkzeugs_full_scrypt_cost():
    code = "from service.accounts import users; print(users.hash_password('pw'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("scrypt:32768:8:1$")


def test_a_cheap_hash_still_checks_the_password(make):
    user = make.user("rater")
    assert user.password_hash.startswith("scrypt:512:8:1$")
    assert users.verify_password(user, PASSWORD) is user
