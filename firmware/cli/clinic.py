"""``presspoint clinic ...``: the clinic app's server and its user, token and person commands (parsing only)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.errors import PresspointError

DEFAULT_DB = "sqlite:///clinic.sqlite3"
MAX_PASSWORD_FILE_BYTES = 4096


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help=f"database URL: sqlite:///FILE or postgresql://... (default {DEFAULT_DB})")
    parser.add_argument("--config", type=Path, help="clinic.toml (its db key is used when --db is not given)")


def _settings(args: argparse.Namespace) -> Any:
    from firmware.clinic.settings import load_settings

    return load_settings(
        args.config, db=args.db, broker=getattr(args, "broker", None), listen=getattr(args, "listen", None)
    )


def _engine(args: argparse.Namespace) -> Any:
    from firmware.clinic.database import open_database

    return open_database(_settings(args).db)


def _password(path: Path) -> str:
    from config.reading import read_regular

    try:
        text = read_regular(path, MAX_PASSWORD_FILE_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise PresspointError(f"{path}: the password file is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise PresspointError(f"{path}: the password file is empty (the password is its first line)")
    return lines[0]


def cmd_serve(args: argparse.Namespace) -> int:
    from firmware.clinic.server import serve

    settings = _settings(args)
    print(f"presspoint clinic: serving http://{settings.listen} (database {_safe_url(settings.db)})", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))
    return 0


def _safe_url(url: str) -> str:
    from firmware.clinic.database import normalise_url

    return normalise_url(url).render_as_string(hide_password=True)


def cmd_user_add(args: argparse.Namespace) -> int:
    from firmware.clinic.auth import add_user

    password = _password(args.password_file)
    add_user(_engine(args), args.name, args.role, password)
    print(f"user {args.name} ({args.role}) added")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    from firmware.clinic.auth import set_password

    password = _password(args.password_file)
    set_password(_engine(args), args.name, password)
    print(f"password of {args.name} changed; their logins were ended")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    from firmware.clinic.auth import remove_user

    remove_user(_engine(args), args.name)
    print(f"user {args.name} removed")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from firmware.clinic.auth import create_token

    print(create_token(_engine(args), args.name))
    return 0


def cmd_person_erase(args: argparse.Namespace) -> int:
    from firmware.clinic.actions import erase_person

    count = erase_person(_engine(args), None, args.person)
    print(f"{args.person}: {count} session(s) and their measurements erased")
    return 0


def cmd_person_export(args: argparse.Namespace) -> int:
    from firmware.clinic import exports

    sys.stdout.write(exports.person_csv(_engine(args), args.person))  # the person page's CSV
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    clinic = sub.add_parser("clinic", help="the clinic web app: collector, dashboard, API")
    csub = clinic.add_subparsers(dest="clinic_command", required=True)

    serve = csub.add_parser("serve", help="collect from the broker and serve the web app")
    _db_option(serve)
    serve.add_argument("--broker", help="mqtt[s]://[user:pass@]host:port (none: the web app only)")
    serve.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:8080)")
    serve.set_defaults(func=cmd_serve)

    user = csub.add_parser("user", help="clinic users")
    usub = user.add_subparsers(dest="user_command", required=True)
    add = _db_command(usub, "add", "add a user", "name", cmd_user_add)
    add.add_argument("--role", choices=("therapist", "viewer"), default="therapist")
    add.add_argument("--password-file", type=Path, required=True, help="file whose first line is the password")
    passwd = _db_command(usub, "passwd", "change a user's password", "name", cmd_user_passwd)
    passwd.add_argument("--password-file", type=Path, required=True)
    _db_command(usub, "remove", "remove a user, their logins and tokens", "name", cmd_user_remove)

    token = csub.add_parser("token", help="API tokens")
    tsub = token.add_subparsers(dest="token_command", required=True)
    _db_command(tsub, "create", "create an API token for a user (printed once)", "name", cmd_token_create)

    person = csub.add_parser("person", help="a person's data")
    psub = person.add_subparsers(dest="person_command", required=True)
    _db_command(psub, "erase", "erase every session and measurement of a person", "person", cmd_person_erase)
    _db_command(psub, "export", "a person's sessions as CSV on stdout", "person", cmd_person_export)


def _db_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    positional: str,
    func: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """A subcommand on the clinic database that names one thing (a user or a person)."""
    command = sub.add_parser(name, help=help_text)
    command.add_argument(positional)
    _db_option(command)
    command.set_defaults(func=func)
    return command
