"""API tokens for integrations: ``api_token create USERNAME``, ``api_token list``,
``api_token revoke TOKEN_KEY``. A token acts as its user, with that user's roles;
its secret is printed once and only its hash is stored (django-rest-knox)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.errors import ApplicationError
from clinic.signin import services


class Command(BaseCommand):
    help = "Create, list or revoke API tokens for integrations."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Make a token acting as USERNAME.")
        create.add_argument("username")
        create.add_argument(
            "--days",
            type=int,
            default=None,
            help="Lifetime in days (default API_TOKEN_TTL_DAYS; 0: never expires).",
        )
        listing = actions.add_parser("list", help="List live tokens (their keys, not secrets).")
        listing.add_argument("--user", default=None)
        revoke = actions.add_parser("revoke", help="Revoke the token with this key.")
        revoke.add_argument("token_key")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except ApplicationError as error:
            details = "; ".join(
                f"{field}: {' '.join(problems)}" for field, problems in (error.fields or {}).items()
            )
            raise CommandError(details or error.message) from None

    def _create(self, options: dict[str, Any]) -> None:
        issued = services.api_token_create(username=options["username"], ttl_days=options["days"])
        self.stdout.write(
            f"token key: {issued.token.token_key}  user: {issued.token.user.username}  "
            f"expires: {services.api_token_expiry_text(issued.token.expiry)}"
        )
        self.stdout.write("secret (shown once; send it as 'Authorization: Token <secret>'):")
        self.stdout.write(issued.secret)

    def _list(self, options: dict[str, Any]) -> None:
        tokens = services.api_tokens_list(username=options["user"])
        if not tokens:
            self.stdout.write("no live tokens")
        for token in tokens:
            self.stdout.write(
                f"{token.token_key}  {token.user.username}  "
                f"created {token.created.isoformat(timespec='minutes')}  "
                f"expires {services.api_token_expiry_text(token.expiry)}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        count = services.api_token_revoke(token_key=options["token_key"])
        if not count:
            raise CommandError(f"No token with key {options['token_key']!r}.")
        self.stdout.write(f"revoked {count} token(s)")
