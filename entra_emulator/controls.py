"""Test controls under ``/_emulator/`` (only with ``--test-controls``): make the emulator misbehave on purpose.

They let tests show that the hub refuses forged tokens, follows membership changes, survives a slow identity
provider and a key rotation. Anyone who can reach the port can use them: never expose an emulator started with them.
"""

from dataclasses import asdict

from .directory import UPN_PATTERN, DirectoryError, parse_app_registration
from .emulator import ENDPOINTS, MAX_DELAY_SECONDS, valid_redirect_uri
from .handlers import EmulatorHandler, Refusal, log
from .tokens import Tamper, TamperError

MAX_THROTTLED_REQUESTS = 10_000
MAX_RETRY_AFTER_SECONDS = 300
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600


class TamperHandler(EmulatorHandler):
    """Corrupt the next id_token(s): ``{"alg", "claims", "drop", "header", "count"}``."""

    def post(self):
        try:
            tamper = Tamper.from_json(self.request_json())
        except TamperError as e:
            raise Refusal(400, f"tamper: {e}") from None
        self.emulator.tamper = tamper
        log.info("control: the next %d id_token(s) will be tampered with", tamper.count)
        self.write_json({"tamper": vars(tamper)})


class GroupsHandler(EmulatorHandler):
    """Change a person's group memberships live: ``{"groups": [ids], "filler_groups": N (optional)}``."""

    def post(self, username):
        directory = self.emulator.directory
        person = directory.person(username)
        if person is None:
            raise Refusal(404, f"no person {username!r} in the directory", error="not_found")
        body = self.request_json()
        groups = body.get("groups")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise Refusal(400, "groups must be a list of group ids")
        group_ids = list(dict.fromkeys(g.strip().lower() for g in groups))
        unknown = [g for g in group_ids if g not in directory.groups]
        if unknown:
            raise Refusal(400, f"unknown group {unknown[0]}: use ids of groups defined in the directory file")
        filler = body.get("filler_groups", person.filler_groups)
        if not isinstance(filler, int) or isinstance(filler, bool) or not 0 <= filler <= _filler_groups_made(self):
            raise Refusal(400, f"filler_groups must be a whole number 0-{_filler_groups_made(self)}")
        person.group_ids, person.filler_groups = group_ids, filler
        log.info("control: %s is now in %d group(s)", person.username, len(directory.groups_of(person)))
        self.write_json({"username": person.username, "groups": group_ids, "filler_groups": filler})


class RenameHandler(EmulatorHandler):
    """Give a person a new user principal name, keeping their object id: ``{"username": "new@contoso.example"}``."""

    def post(self, username):
        directory = self.emulator.directory
        person = directory.person(username)
        if person is None:
            raise Refusal(404, f"no person {username!r} in the directory", error="not_found")
        new = self.request_json().get("username")
        if not isinstance(new, str) or not UPN_PATTERN.fullmatch(new.strip()):
            raise Refusal(400, "username must be a user principal name (name@domain.example)")
        taken = directory.person(new)
        if taken is not None and taken is not person:
            raise Refusal(409, f"{new} already belongs to someone else")
        directory.rename(person, new.strip())
        log.info("control: %s renamed (object id unchanged)", person.oid)
        self.write_json({"username": person.username, "oid": person.oid})


class AppRegistrationHandler(EmulatorHandler):
    """Change the app registration live; the keys given replace the current ones (as in the directory file)."""

    def post(self):
        directory = self.emulator.directory
        current = asdict(directory.app_registration)
        current["optional_claims"] = [
            {"name": n, "additional_properties": extra} for n, extra in current["optional_claims"].items()
        ]
        try:
            directory.app_registration = parse_app_registration({**current, **self.request_json()}, directory.groups)
        except DirectoryError as e:
            raise Refusal(400, str(e)) from None
        self.write_json({"app_registration": asdict(directory.app_registration)})


class ModesHandler(EmulatorHandler):
    """Behave as some deployments do rather than as documented: ``{"id_token_on_refresh": false}``; or issue
    short-lived tokens: ``{"token_lifetime_seconds": 30}``. ``reset`` goes back to the documented behaviour."""

    def post(self):
        body = self.request_json()
        unknown = sorted(set(body) - {"id_token_on_refresh", "token_lifetime_seconds"})
        if unknown:
            raise Refusal(400, f"unknown mode {unknown[0]!r}: use id_token_on_refresh, token_lifetime_seconds")
        if "id_token_on_refresh" in body:
            if not isinstance(body["id_token_on_refresh"], bool):
                raise Refusal(400, "id_token_on_refresh must be true or false")
            self.emulator.id_token_on_refresh = body["id_token_on_refresh"]
        if "token_lifetime_seconds" in body:
            lifetime = body["token_lifetime_seconds"]
            if not _whole(lifetime, 1, MAX_TOKEN_LIFETIME_SECONDS):
                raise Refusal(400, f"token_lifetime_seconds must be a whole number 1-{MAX_TOKEN_LIFETIME_SECONDS}")
            self.emulator.token_lifetime_seconds = lifetime
        log.info("control: id_token on refresh %s", "on" if self.emulator.id_token_on_refresh else "off")
        self.write_json(
            {
                "id_token_on_refresh": self.emulator.id_token_on_refresh,
                "token_lifetime_seconds": self.emulator.token_lifetime_seconds,
            }
        )


class ThrottleHandler(EmulatorHandler):
    """The next ``count`` Graph requests answer 429 with ``Retry-After: retry_after``; ``count`` 0 removes."""

    def post(self):
        body = self.request_json()
        count, retry_after = body.get("count"), body.get("retry_after", 1)
        if not _whole(count, 0, MAX_THROTTLED_REQUESTS):
            raise Refusal(400, f"count must be a whole number 0-{MAX_THROTTLED_REQUESTS}")
        if not _whole(retry_after, 0, MAX_RETRY_AFTER_SECONDS):
            raise Refusal(400, f"retry_after must be a whole number of seconds 0-{MAX_RETRY_AFTER_SECONDS}")
        self.emulator.throttle_count, self.emulator.throttle_retry_after = count, retry_after
        log.info("control: the next %d Graph request(s) will be throttled (Retry-After %d)", count, retry_after)
        self.write_json({"count": count, "retry_after": retry_after})


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _filler_groups_made(handler: EmulatorHandler) -> int:
    """Filler groups exist as far as the directory file asked for them."""
    return max((p.filler_groups for p in handler.emulator.loaded_directory.people.values()), default=0)


class RevokeSessionsHandler(EmulatorHandler):
    """Revoke every refresh token of a person, like Graph's revokeSignInSessions."""

    def post(self, username):
        person = self.emulator.directory.person(username)
        if person is None:
            raise Refusal(404, f"no person {username!r} in the directory", error="not_found")
        self.write_json({"username": person.username, "revoked": self.emulator.grants.revoke_sessions(person.oid)})


class DelayHandler(EmulatorHandler):
    """Slow down answers: ``{"seconds": s, "paths": ["token", ...]}`` (all endpoints if no paths; 0 removes)."""

    def post(self):
        body = self.request_json()
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds <= MAX_DELAY_SECONDS:
            raise Refusal(400, f"seconds must be a number 0-{MAX_DELAY_SECONDS}")
        paths = body.get("paths", list(ENDPOINTS))
        if not isinstance(paths, list) or not paths or any(p not in ENDPOINTS for p in paths):
            raise Refusal(400, f"paths must be a list of endpoint names from {', '.join(ENDPOINTS)}")
        self.emulator.set_delay(float(seconds), paths)
        self.write_json({"delays": self.emulator.delays})


class RotateKeyHandler(EmulatorHandler):
    """A new signing key with a new kid; ``{"keep_old": true}`` keeps publishing the previous ones too."""

    def post(self):
        keep_old = self.request_json().get("keep_old", False)
        if not isinstance(keep_old, bool):
            raise Refusal(400, "keep_old must be true or false")
        key = self.emulator.rotate_key(keep_old)
        log.info("control: signing key rotated to %s", key.kid)
        self.write_json({"kid": key.kid, "published": [k.kid for k in self.emulator.published_keys]})


class RedirectUriHandler(EmulatorHandler):
    """Register another redirect URI (a hub started by a test on a port chosen at run time)."""

    def post(self):
        uri = self.request_json().get("redirect_uri")
        if not isinstance(uri, str) or not valid_redirect_uri(uri):
            raise Refusal(400, "redirect_uri must be an https URL, or http on localhost / 127.0.0.1")
        uris = self.emulator.registration.redirect_uris
        if uri not in uris:
            uris.append(uri)
        self.write_json({"redirect_uris": uris})


class StatsHandler(EmulatorHandler):
    def get(self):
        self.write_json(self.emulator.stats())


class ResetHandler(EmulatorHandler):
    def post(self):
        self.emulator.reset()
        self.write_json({"reset": True})


def routes(emulator) -> list:
    args = {"emulator": emulator}
    return [
        (r"/_emulator/tamper", TamperHandler, args),
        (r"/_emulator/users/([^/]+)/groups", GroupsHandler, args),
        (r"/_emulator/users/([^/]+)/revoke-sessions", RevokeSessionsHandler, args),
        (r"/_emulator/users/([^/]+)/rename", RenameHandler, args),
        (r"/_emulator/app-registration", AppRegistrationHandler, args),
        (r"/_emulator/modes", ModesHandler, args),
        (r"/_emulator/throttle", ThrottleHandler, args),
        (r"/_emulator/delay", DelayHandler, args),
        (r"/_emulator/rotate-key", RotateKeyHandler, args),
        (r"/_emulator/redirect-uris", RedirectUriHandler, args),
        (r"/_emulator/stats", StatsHandler, args),
        (r"/_emulator/reset", ResetHandler, args),
    ]
