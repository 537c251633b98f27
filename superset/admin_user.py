"""Create Superset's admin account, or set its password again, with the password read from standard input.

`superset fab create-admin --password ...` (and `fab reset-password --password ...`) would put the password on a
command line, which every local user can read (`ps`, /proc/<pid>/cmdline). This runs in the BI environment with
Superset's own app and security manager instead; the password comes on standard input, never in argv or a log:

    printenv COMPTOIR_SUPERSET_ADMIN_PASSWORD | python superset/admin_user.py --username admin

(orchestration/superset/server.py feeds it the same way; docker-compose.yml's superset-init runs the line above.)
Needs Superset's environment: SUPERSET_CONFIG_PATH (this folder's superset_config.py) and COMPTOIR_HOME.
Prints the account's name and what was done; exit status 0 when the account exists with that password.
"""

from __future__ import annotations

import argparse
import sys


def _read_secret() -> str:
    """The first line of standard input, without its line break."""
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--username", default="admin")
    parser.add_argument("--firstname", default="Comptoir")
    parser.add_argument("--lastname", default="Admin")
    parser.add_argument("--email", default="admin@comptoir.invalid")
    args = parser.parse_args(argv)
    secret = _read_secret()
    if not secret:
        print("error: no password on standard input (one line)", file=sys.stderr)
        return 1

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        manager = app.appbuilder.sm
        user = manager.find_user(username=args.username)
        if user is None:
            role = manager.find_role(manager.auth_role_admin)
            if not manager.add_user(args.username, args.firstname, args.lastname, args.email, role, secret):
                print(f"error: Superset did not create the admin account {args.username}", file=sys.stderr)
                return 1
            done = "created"
        else:
            manager.reset_password(user.id, secret)
            done = "password set again"
    print(f"admin account {args.username}: {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
