"""The IAM domain: accounts, users, access keys, roles, inline and managed policies, attachments,
and the STS sessions whose credentials they issue, held in memory and written through to
``iam.db`` (:class:`~lambent.store.iam.IamStore`).

Every entity belongs to one account; every method takes the account it acts in, and nothing
crosses accounts except a role's trust (see :mod:`lambent.iam.sts`) and AWS managed policies
(:mod:`lambent.iam.managed`), the same in all. Names are unique per account case-insensitively.

:meth:`IamService.lookup` is the SigV4 verifier's key lookup: an in-memory dict, rebuilt after a
change of keys or entities, extended in place when a session is issued.

Thread-safety: changes are synchronous (the API runs them with ``asyncio.to_thread``) and
serialised by one lock; a change is written to the store first, then applied in memory, so a
failed write changes nothing. Reads take no lock: they iterate over snapshots (``list(...)``,
atomic under the GIL) of the dicts a writer may be changing.

Another process (``lambent accounts create`` while the server runs) writes the same ``iam.db``:
a key the index does not know makes :meth:`lookup` check the database file's stamp (a ``stat``,
at most once per :data:`RELOAD_CHECK_S`) and reload everything if it changed, so an account
created by the operator works at once, and unknown keys cost a client no more than one stat a
second. Scope: one per server (or CLI command), for its lifetime.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from lambent.credentials import load_root_credentials
from lambent.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    ExpiredToken,
    LimitExceeded,
    NoSuchEntity,
    TooManyRequests,
    ValidationError,
)
from lambent.iam import ids
from lambent.iam.documents import DocKind, check_document, document_size
from lambent.iam.managed import BY_ARN as AWS_MANAGED
from lambent.iam.model import (
    PARTITION,
    AccessKey,
    Account,
    KeyStatus,
    ManagedPolicy,
    OwnerKind,
    PolicyVersion,
    Principal,
    PrincipalKind,
    Role,
    Session,
    User,
    token_digest,
)
from lambent.iam.secretbox import SecretBox
from lambent.settings import Settings
from lambent.store.iam import IamStore
from lambent.store.reserve import DiskGuard

#: IAM quotas (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
ACCESS_KEYS_PER_USER = 2
MANAGED_POLICIES_PER_ENTITY = 10
VERSIONS_PER_POLICY = 5
USERS_PER_ACCOUNT = 5000
ROLES_PER_ACCOUNT = 1000
POLICIES_PER_ACCOUNT = 1500
#: Not an AWS quota: unexpired sessions an account may hold at once, so that a caller looping on
#: AssumeRole cannot grow iam.db and the key index without bound (answered as a throttle).
LIVE_SESSIONS_PER_ACCOUNT = 10_000
TAGS_PER_ENTITY = 50
ROOT_ACCOUNT_NAME = "root"
#: At most one check of iam.db's stamp for another process's changes this often (lookup misses).
RELOAD_CHECK_S = 1.0
#: Expired sessions keep answering ExpiredToken (rather than an unknown key) this long.
EXPIRED_KEPT_S = 3600.0

Tags = tuple[tuple[str, str], ...]
_Owner = tuple[str, OwnerKind, str]


class IamService:
    def __init__(
        self,
        store: IamStore,
        box: SecretBox,
        root_account_id: str,
        root_keys: tuple[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._box = box
        self._clock = clock
        self._lock = threading.RLock()
        self.root_account_id = root_account_id
        self._root_keys = root_keys
        self._accounts: dict[str, Account] = {}
        self._users: dict[tuple[str, str], User] = {}
        self._keys: dict[str, AccessKey] = {}
        self._roles: dict[tuple[str, str], Role] = {}
        self._inline: dict[_Owner, dict[str, str]] = {}
        self._policies: dict[tuple[str, str], ManagedPolicy] = {}
        self._attached: dict[_Owner, list[str]] = {}
        self._sessions: dict[str, Session] = {}
        self._index: dict[str, Principal] | None = None
        #: Bumped by every change of any identity policy, attachment or default version: the
        #: version :class:`lambent.iam.policy.PolicyCache` keys compiled policies by (coarse:
        #: one number for every principal; such changes are rare).
        self.policy_generation = 0
        self._load()
        if root_account_id not in self._accounts:
            self.store.insert("accounts", {"account_id": root_account_id, "name": ROOT_ACCOUNT_NAME, "created_at": clock()})
            self._accounts[root_account_id] = Account(root_account_id, ROOT_ACCOUNT_NAME, clock())
        self._stamp = self.store.stamp()
        self._checked_at = clock()

    @classmethod
    def open_in(
        cls,
        data_dir: Path,
        root_account_id: str,
        root_keys: tuple[str, str] | None = None,
        disk: DiskGuard | None = None,
        clock: Callable[[], float] = time.time,
    ) -> IamService:
        """``<data_dir>/iam.db`` with ``<data_dir>/iam.key`` (created on first start)."""
        box = SecretBox.open_in(data_dir)
        return cls(IamStore.open_in(data_dir, disk), box, root_account_id, root_keys, clock)

    @classmethod
    def for_server(cls, settings: Settings, disk: DiskGuard | None = None) -> IamService:
        """The server's: the data dir's IAM, with the root credentials of ``settings``'s account
        (:func:`lambent.credentials.load_root_credentials`, generated on first start)."""
        root = load_root_credentials(settings)
        return cls.open_in(settings.data_dir, settings.account_id, (root.access_key_id, root.secret_access_key), disk)

    def close(self) -> None:
        self.store.close()

    # -- loading -------------------------------------------------------------------------------
    def _load(self, *, purge: bool = True) -> None:
        """Everything from iam.db; ``purge``: also delete long-expired sessions (a write: only at
        start-up, so a reload does not change the stamp it just took)."""
        rows = self.store.load_all()
        for r in rows["accounts"]:
            self._accounts[r["account_id"]] = Account(r["account_id"], r["name"], r["created_at"])
        for r in rows["users"]:
            self._users[(r["account_id"], r["name_key"])] = User(
                r["account_id"], r["name"], r["user_id"], r["path"], r["created_at"], _tags_in(r["tags"])
            )
        for r in rows["access_keys"]:
            user = self._users.get((r["account_id"], r["user_key"])) if r["user_key"] else None
            self._keys[r["access_key_id"]] = AccessKey(
                r["access_key_id"], r["account_id"], user.name if user else None, KeyStatus(r["status"]), r["created_at"],
                self._box.unseal(r["secret_sealed"], r["access_key_id"]),
            )
        for r in rows["roles"]:
            self._roles[(r["account_id"], r["name_key"])] = Role(
                r["account_id"], r["name"], r["role_id"], r["path"], r["assume_role_policy"], r["created_at"],
                r["description"], r["max_session_s"], _tags_in(r["tags"]),
            )
        for r in rows["inline_policies"]:
            owner = (r["account_id"], OwnerKind(r["owner_kind"]), r["owner_key"])
            self._inline.setdefault(owner, {})[r["policy_name"]] = r["document"]
        versions: dict[tuple[str, str], list[PolicyVersion]] = {}
        for r in rows["policy_versions"]:
            versions.setdefault((r["account_id"], r["policy_key"]), []).append(
                PolicyVersion(r["version_id"], r["document"], r["created_at"])
            )
        for r in rows["managed_policies"]:
            key = (r["account_id"], r["name_key"])
            self._policies[key] = ManagedPolicy(
                r["account_id"], r["name"], r["policy_id"], r["path"], r["default_version"],
                tuple(sorted(versions.get(key, []), key=lambda v: int(v.version_id[1:]))),
                r["created_at"], r["updated_at"], r["description"], r["next_version"],
            )
        for r in rows["attachments"]:
            owner = (r["account_id"], OwnerKind(r["owner_kind"]), r["owner_key"])
            self._attached.setdefault(owner, []).append(r["policy_arn"])
        cutoff = self._clock() - EXPIRED_KEPT_S
        if purge:
            self.store.delete_expired_sessions(cutoff)
        for r in rows["sessions"]:
            if r["expires_at"] > cutoff:
                self._sessions[r["access_key_id"]] = Session(
                    r["access_key_id"], r["account_id"], r["role_name"], r["role_id"], r["role_arn"], r["session_name"],
                    r["expires_at"], r["created_at"], self._box.unseal(r["secret_sealed"], r["access_key_id"]),
                    r["token_sha256"],
                )

    def _changed(self) -> None:
        self._index = None

    def _policies_changed(self) -> None:
        self.policy_generation += 1

    def reload_if_changed(self) -> bool:
        """Reload from iam.db if another process changed it since (True if it did)."""
        with self._lock:
            stamp = self.store.stamp()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            for table in (self._accounts, self._users, self._keys, self._roles, self._inline, self._policies,
                          self._attached, self._sessions):
                table.clear()
            self._load(purge=False)
            self._changed()
            self._policies_changed()
            return True

    # -- the key lookup ------------------------------------------------------------------------
    def lookup(self, access_key_id: str) -> Principal | None:
        """The principal whose key this is; None for an unknown, Inactive or deleted key;
        ExpiredToken for expired temporary credentials."""
        index = self._index
        if index is None:
            with self._lock:
                index = self._index = self._build_index()
        found = index.get(access_key_id)
        if found is None:
            now = self._clock()
            if now - self._checked_at >= RELOAD_CHECK_S:
                self._checked_at = now
                if self.reload_if_changed():
                    return self.lookup(access_key_id)
            return None
        if found.expires_at is not None and found.expires_at <= self._clock():
            raise ExpiredToken("The security token included in the request is expired")
        return found

    def _build_index(self) -> dict[str, Principal]:
        index: dict[str, Principal] = {}
        if self._root_keys is not None:
            key_id, secret = self._root_keys
            index[key_id] = self._root_principal(self.root_account_id, key_id, secret)
        for k in self._keys.values():
            if k.status is not KeyStatus.ACTIVE or k.account_id not in self._accounts:
                continue
            if k.user_name is None:
                index[k.access_key_id] = self._root_principal(k.account_id, k.access_key_id, k.secret_access_key)
                continue
            user = self._users.get((k.account_id, k.user_name.lower()))
            if user is not None:
                index[k.access_key_id] = Principal(
                    PrincipalKind.USER, user.account_id, user.arn, user.user_id, user.name, k.access_key_id,
                    k.secret_access_key,
                )
        for s in self._sessions.values():
            index[s.access_key_id] = _session_principal(s)
        return index

    def _root_principal(self, account_id: str, key_id: str, secret: str) -> Principal:
        return Principal(
            PrincipalKind.ROOT, account_id, f"arn:{PARTITION}:iam::{account_id}:root", account_id, "", key_id, secret
        )

    def root_principal(self, account_id: str | None = None) -> Principal:
        """The root of ``account_id`` (default: the server's account) as a principal (no key)."""
        account = account_id or self.root_account_id
        key_id = self._root_keys[0] if self._root_keys and account == self.root_account_id else ""
        return self._root_principal(account, key_id, "")

    # -- accounts ------------------------------------------------------------------------------
    def create_account(self, name: str) -> tuple[Account, AccessKey]:
        """A new account with a root key pair (the operator's ``lambent accounts create``)."""
        if not name or len(name) > 50 or not all(c.isalnum() or c in "+=,.@_-" for c in name):
            raise ValidationError("An account name is 1 to 50 letters, digits or +=,.@_- characters.")
        with self._lock:
            if any(a.name.lower() == name.lower() for a in self._accounts.values()):
                raise EntityAlreadyExists(f"Account with name {name} already exists.")
            account_id = ids.account_id()
            while account_id in self._accounts:
                account_id = ids.account_id()
            now = self._clock()
            account = Account(account_id, name, now)
            self.store.insert("accounts", {"account_id": account_id, "name": name, "created_at": now})
            self._accounts[account_id] = account
            return account, self._new_key(account_id, None)

    def accounts(self) -> list[Account]:
        return sorted(list(self._accounts.values()), key=lambda a: a.created_at)

    def account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    # -- users ---------------------------------------------------------------------------------
    def create_user(self, account_id: str, name: str, path: str = "/", tags: Tags = ()) -> User:
        with self._lock:
            key = (account_id, name.lower())
            if key in self._users:
                raise EntityAlreadyExists(f"User with name {name} already exists.")
            _quota(self._users, account_id, USERS_PER_ACCOUNT, "UsersPerAccount")
            user = User(account_id, name, ids.user_id(), path, self._clock(), tags)
            self.store.insert("users", {
                "account_id": account_id, "name_key": key[1], "name": name, "user_id": user.user_id, "path": path,
                "tags": _tags_out(tags), "created_at": user.created_at,
            })
            self._users[key] = user
            return user

    def get_user(self, account_id: str, name: str) -> User:
        user = self._users.get((account_id, name.lower()))
        if user is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        return user

    def delete_user(self, account_id: str, name: str) -> None:
        with self._lock:
            user = self.get_user(account_id, name)
            owner = (account_id, OwnerKind.USER, user.name.lower())
            if any(k.account_id == account_id and k.user_name == user.name for k in self._keys.values()):
                raise DeleteConflict("Cannot delete entity, must delete access keys first.")
            if self._inline.get(owner):
                raise DeleteConflict("Cannot delete entity, must delete policies first.")
            if self._attached.get(owner):
                raise DeleteConflict("Cannot delete entity, must detach all policies first.")
            self.store.delete("users", {"account_id": account_id, "name_key": owner[2]})
            del self._users[(account_id, owner[2])]
            self._changed()

    def list_users(self, account_id: str, path_prefix: str = "/") -> list[User]:
        found = [u for (a, _), u in list(self._users.items()) if a == account_id and u.path.startswith(path_prefix)]
        return sorted(found, key=lambda u: u.name.lower())

    # -- access keys ---------------------------------------------------------------------------
    def create_access_key(self, account_id: str, user_name: str | None) -> AccessKey:
        """A new Active key pair for ``user_name``, or for the account root (None)."""
        with self._lock:
            name = self.get_user(account_id, user_name).name if user_name is not None else None
            return self._new_key(account_id, name)

    def _new_key(self, account_id: str, user_name: str | None) -> AccessKey:
        if len(self._keys_of(account_id, user_name)) >= ACCESS_KEYS_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}")
        key_id = ids.access_key_id()
        while key_id in self._keys:
            key_id = ids.access_key_id()
        key = AccessKey(key_id, account_id, user_name, KeyStatus.ACTIVE, self._clock(), ids.secret_access_key())
        self.store.insert("access_keys", {
            "access_key_id": key_id, "account_id": account_id, "user_key": user_name.lower() if user_name else None,
            "secret_sealed": self._box.seal(key.secret_access_key, key_id), "status": key.status.value,
            "created_at": key.created_at,
        })
        self._keys[key_id] = key
        self._changed()
        return key

    def _keys_of(self, account_id: str, user_name: str | None) -> list[AccessKey]:
        return [k for k in list(self._keys.values()) if k.account_id == account_id and k.user_name == user_name]

    def _key(self, account_id: str, user_name: str | None, access_key_id: str) -> AccessKey:
        name = self.get_user(account_id, user_name).name if user_name is not None else None
        key = self._keys.get(access_key_id)
        if key is None or key.account_id != account_id or key.user_name != name:
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
        return key

    def update_access_key(self, account_id: str, user_name: str | None, access_key_id: str, status: KeyStatus) -> None:
        with self._lock:
            key = self._key(account_id, user_name, access_key_id)
            self.store.update("access_keys", {"access_key_id": key.access_key_id}, {"status": status.value})
            self._keys[key.access_key_id] = replace(key, status=status)
            self._changed()

    def delete_access_key(self, account_id: str, user_name: str | None, access_key_id: str) -> None:
        with self._lock:
            key = self._key(account_id, user_name, access_key_id)
            self.store.delete("access_keys", {"access_key_id": key.access_key_id})
            del self._keys[key.access_key_id]
            self._changed()

    def list_access_keys(self, account_id: str, user_name: str | None) -> list[AccessKey]:
        name = self.get_user(account_id, user_name).name if user_name is not None else None
        return sorted(self._keys_of(account_id, name), key=lambda k: k.created_at)

    # -- roles ---------------------------------------------------------------------------------
    def create_role(
        self,
        account_id: str,
        name: str,
        trust_policy: str,
        *,
        path: str = "/",
        description: str = "",
        max_session_s: int = 3600,
        tags: Tags = (),
    ) -> Role:
        check_document(trust_policy, DocKind.TRUST)
        with self._lock:
            key = (account_id, name.lower())
            if key in self._roles:
                raise EntityAlreadyExists(f"Role with name {name} already exists.")
            _quota(self._roles, account_id, ROLES_PER_ACCOUNT, "RolesPerAccount")
            role = Role(account_id, name, ids.role_id(), path, trust_policy, self._clock(), description, max_session_s, tags)
            self.store.insert("roles", {
                "account_id": account_id, "name_key": key[1], "name": name, "role_id": role.role_id, "path": path,
                "assume_role_policy": trust_policy, "description": description, "max_session_s": max_session_s,
                "tags": _tags_out(tags), "created_at": role.created_at,
            })
            self._roles[key] = role
            return role

    def get_role(self, account_id: str, name: str) -> Role:
        role = self._roles.get((account_id, name.lower()))
        if role is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        return role

    def role_by_arn(self, arn: str) -> Role | None:
        """The role an ARN names (its path is part of the ARN, as on AWS), in any account."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[:3] != ["arn", PARTITION, "iam"] or not parts[5].startswith("role/"):
            return None
        name = parts[5].rsplit("/", 1)[-1]
        role = self._roles.get((parts[4], name.lower()))
        return role if role is not None and role.arn == arn else None

    def update_assume_role_policy(self, account_id: str, name: str, trust_policy: str) -> None:
        check_document(trust_policy, DocKind.TRUST)
        with self._lock:
            role = self.get_role(account_id, name)
            self.store.update("roles", {"account_id": account_id, "name_key": role.name.lower()},
                              {"assume_role_policy": trust_policy})
            self._roles[(account_id, role.name.lower())] = replace(role, assume_role_policy=trust_policy)

    def delete_role(self, account_id: str, name: str) -> None:
        """Deleting a role ends its sessions: their keys stop resolving at once."""
        with self._lock:
            role = self.get_role(account_id, name)
            owner = (account_id, OwnerKind.ROLE, role.name.lower())
            if self._inline.get(owner):
                raise DeleteConflict("Cannot delete entity, must delete policies first.")
            if self._attached.get(owner):
                raise DeleteConflict("Cannot delete entity, must detach all policies first.")
            self.store.delete("roles", {"account_id": account_id, "name_key": owner[2]})
            self.store.delete("sessions", {"account_id": account_id, "role_key": owner[2]})
            del self._roles[(account_id, owner[2])]
            for key_id in [k for k, s in self._sessions.items() if s.account_id == account_id and s.role_id == role.role_id]:
                del self._sessions[key_id]
            self._changed()

    def list_roles(self, account_id: str, path_prefix: str = "/") -> list[Role]:
        found = [r for (a, _), r in list(self._roles.items()) if a == account_id and r.path.startswith(path_prefix)]
        return sorted(found, key=lambda r: r.name.lower())

    # -- tags ----------------------------------------------------------------------------------
    def tag(self, account_id: str, kind: OwnerKind, name: str, tags: Tags) -> None:
        """Add or overwrite tags of a user or role (TagUser/TagRole)."""
        with self._lock:
            entity = self.get_user(account_id, name) if kind is OwnerKind.USER else self.get_role(account_id, name)
            merged = dict(entity.tags)
            merged.update(tags)
            self._set_tags(kind, entity, tuple(merged.items()))

    def untag(self, account_id: str, kind: OwnerKind, name: str, keys: Iterable[str]) -> None:
        with self._lock:
            entity = self.get_user(account_id, name) if kind is OwnerKind.USER else self.get_role(account_id, name)
            gone = set(keys)
            self._set_tags(kind, entity, tuple((k, v) for k, v in entity.tags if k not in gone))

    def _set_tags(self, kind: OwnerKind, entity: User | Role, tags: Tags) -> None:
        if len(tags) > TAGS_PER_ENTITY:
            quota = "TagsPerUser" if kind is OwnerKind.USER else "TagsPerRole"
            raise LimitExceeded(f"Cannot exceed quota for {quota}: {TAGS_PER_ENTITY}")
        key = (entity.account_id, entity.name.lower())
        self.store.update("users" if kind is OwnerKind.USER else "roles",
                          {"account_id": key[0], "name_key": key[1]}, {"tags": _tags_out(tags)})
        if isinstance(entity, User):
            self._users[key] = replace(entity, tags=tags)
        else:
            self._roles[key] = replace(entity, tags=tags)

    # -- inline policies -----------------------------------------------------------------------
    def _owner(self, account_id: str, kind: OwnerKind, name: str) -> _Owner:
        entity = self.get_user(account_id, name) if kind is OwnerKind.USER else self.get_role(account_id, name)
        return (account_id, kind, entity.name.lower())

    def put_inline_policy(self, account_id: str, kind: OwnerKind, owner_name: str, policy_name: str, document: str) -> None:
        with self._lock:
            owner = self._owner(account_id, kind, owner_name)
            others = sum(document_size(d) for n, d in self._inline.get(owner, {}).items() if n != policy_name)
            check_document(document, DocKind.USER_INLINE if kind is OwnerKind.USER else DocKind.ROLE_INLINE, owner_name, others)
            self.store.put_inline_policy({
                "account_id": account_id, "owner_kind": kind.value, "owner_key": owner[2], "policy_name": policy_name,
                "document": document,
            })
            self._inline.setdefault(owner, {})[policy_name] = document
            self._policies_changed()

    def get_inline_policy(self, account_id: str, kind: OwnerKind, owner_name: str, policy_name: str) -> str:
        owner = self._owner(account_id, kind, owner_name)
        document = self._inline.get(owner, {}).get(policy_name)
        if document is None:
            raise NoSuchEntity(f"The {kind.value} policy with name {policy_name} cannot be found.")
        return document

    def delete_inline_policy(self, account_id: str, kind: OwnerKind, owner_name: str, policy_name: str) -> None:
        with self._lock:
            owner = self._owner(account_id, kind, owner_name)
            self.get_inline_policy(account_id, kind, owner_name, policy_name)
            self.store.delete("inline_policies", {
                "account_id": account_id, "owner_kind": kind.value, "owner_key": owner[2], "policy_name": policy_name,
            })
            del self._inline[owner][policy_name]
            self._policies_changed()

    def list_inline_policies(self, account_id: str, kind: OwnerKind, owner_name: str) -> list[str]:
        return sorted(list(self._inline.get(self._owner(account_id, kind, owner_name), {})))

    # -- managed policies ----------------------------------------------------------------------
    def create_policy(self, account_id: str, name: str, document: str, *, path: str = "/", description: str = "") -> ManagedPolicy:
        check_document(document, DocKind.MANAGED)
        with self._lock:
            key = (account_id, name.lower())
            if key in self._policies:
                raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
            _quota(self._policies, account_id, POLICIES_PER_ACCOUNT, "PoliciesPerAccount")
            now = self._clock()
            policy = ManagedPolicy(account_id, name, ids.policy_id(), path, "v1", (PolicyVersion("v1", document, now),),
                                   now, now, description, 2)
            self.store.add_managed_policy(
                {"account_id": account_id, "name_key": key[1], "name": name, "policy_id": policy.policy_id, "path": path,
                 "description": description, "default_version": "v1", "next_version": 2, "created_at": now,
                 "updated_at": now},
                {"account_id": account_id, "policy_key": key[1], "version_id": "v1", "document": document, "created_at": now},
            )
            self._policies[key] = policy
            return policy

    def policy(self, account_id: str, arn: str) -> ManagedPolicy | None:
        """The AWS managed policy or the customer managed policy of ``account_id`` that ``arn``
        names; None otherwise (another account's policies are invisible)."""
        if arn in AWS_MANAGED:
            return AWS_MANAGED[arn]
        prefix = f"arn:{PARTITION}:iam::{account_id}:policy/"
        if not arn.startswith(prefix):
            return None
        found = self._policies.get((account_id, arn.rsplit("/", 1)[-1].lower()))
        return found if found is not None and found.arn == arn else None

    def get_policy(self, account_id: str, arn: str) -> ManagedPolicy:
        found = self.policy(account_id, arn)
        if found is None:
            raise NoSuchEntity(f"Policy {arn} was not found.")
        return found

    def get_policy_version(self, account_id: str, arn: str, version_id: str) -> PolicyVersion:
        found = self.policy(account_id, arn)
        version = found.version(version_id) if found is not None else None
        if version is None:
            raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
        return version

    def create_policy_version(self, account_id: str, arn: str, document: str, set_default: bool = False) -> PolicyVersion:
        check_document(document, DocKind.MANAGED)
        with self._lock:
            policy = self._own_policy(account_id, arn)
            if len(policy.versions) >= VERSIONS_PER_POLICY:
                raise LimitExceeded(
                    f"A managed policy can have up to {VERSIONS_PER_POLICY} versions. Before you create a new version,"
                    " you must delete an existing version."
                )
            now = self._clock()
            version = PolicyVersion(f"v{policy.next_version}", document, now)
            default = version.version_id if set_default else policy.default_version
            self.store.add_policy_version(
                {"account_id": account_id, "policy_key": policy.name.lower(), "version_id": version.version_id,
                 "document": document, "created_at": now},
                {"default_version": default, "next_version": policy.next_version + 1, "updated_at": now},
            )
            self._policies[(account_id, policy.name.lower())] = replace(
                policy, versions=(*policy.versions, version), default_version=default,
                next_version=policy.next_version + 1, updated_at=now,
            )
            self._policies_changed()
            return version

    def delete_policy_version(self, account_id: str, arn: str, version_id: str) -> None:
        with self._lock:
            policy = self._own_policy(account_id, arn)
            if policy.version(version_id) is None:
                raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
            if version_id == policy.default_version:
                raise DeleteConflict("Cannot delete the default version of a policy.")
            self.store.delete("policy_versions", {
                "account_id": account_id, "policy_key": policy.name.lower(), "version_id": version_id,
            })
            self._policies[(account_id, policy.name.lower())] = replace(
                policy, versions=tuple(v for v in policy.versions if v.version_id != version_id)
            )

    def set_default_policy_version(self, account_id: str, arn: str, version_id: str) -> None:
        with self._lock:
            policy = self._own_policy(account_id, arn)
            if policy.version(version_id) is None:
                raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
            now = self._clock()
            self.store.update("managed_policies", {"account_id": account_id, "name_key": policy.name.lower()},
                              {"default_version": version_id, "updated_at": now})
            self._policies[(account_id, policy.name.lower())] = replace(policy, default_version=version_id, updated_at=now)
            self._policies_changed()

    def _own_policy(self, account_id: str, arn: str) -> ManagedPolicy:
        policy = self.policy(account_id, arn)
        if policy is None or policy.account_id != account_id:  # AWS managed policies cannot change
            raise NoSuchEntity(f"Policy {arn} was not found.")
        return policy

    def delete_policy(self, account_id: str, arn: str) -> None:
        with self._lock:
            policy = self._own_policy(account_id, arn)
            if self.attachment_count(account_id, arn):
                raise DeleteConflict("Cannot delete a policy attached to entities.")
            if len(policy.versions) > 1:
                raise DeleteConflict(
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's"
                    " versions. The default version is deleted with the policy."
                )
            self.store.delete_managed_policy(account_id, policy.name.lower())
            del self._policies[(account_id, policy.name.lower())]

    def list_policies(self, account_id: str, scope: str = "All", only_attached: bool = False,
                      path_prefix: str = "/") -> list[ManagedPolicy]:
        """AWS managed ones first (scope AWS/All), then the account's (Local/All), each by name."""
        found: list[ManagedPolicy] = []
        if scope in ("All", "AWS"):
            found += sorted(AWS_MANAGED.values(), key=lambda p: p.name.lower())
        if scope in ("All", "Local"):
            found += sorted((p for (a, _), p in list(self._policies.items()) if a == account_id), key=lambda p: p.name.lower())
        found = [p for p in found if p.path.startswith(path_prefix)]
        if only_attached:
            found = [p for p in found if self.attachment_count(account_id, p.arn)]
        return found

    # -- attachments ---------------------------------------------------------------------------
    def attachment_count(self, account_id: str, arn: str) -> int:
        return sum(1 for (a, _, _), arns in list(self._attached.items()) if a == account_id and arn in arns)

    def attach_policy(self, account_id: str, kind: OwnerKind, owner_name: str, arn: str) -> None:
        with self._lock:
            owner = self._owner(account_id, kind, owner_name)
            if self.policy(account_id, arn) is None:
                raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
            attached = self._attached.setdefault(owner, [])
            if arn in attached:
                return
            if len(attached) >= MANAGED_POLICIES_PER_ENTITY:
                quota = "PoliciesPerUser" if kind is OwnerKind.USER else "PoliciesPerRole"
                raise LimitExceeded(f"Cannot exceed quota for {quota}: {MANAGED_POLICIES_PER_ENTITY}")
            self.store.insert("attachments", {
                "account_id": account_id, "owner_kind": kind.value, "owner_key": owner[2], "policy_arn": arn,
            })
            attached.append(arn)
            self._policies_changed()

    def detach_policy(self, account_id: str, kind: OwnerKind, owner_name: str, arn: str) -> None:
        with self._lock:
            owner = self._owner(account_id, kind, owner_name)
            if arn not in self._attached.get(owner, []):
                raise NoSuchEntity(f"Policy {arn} was not found.")
            self.store.delete("attachments", {
                "account_id": account_id, "owner_kind": kind.value, "owner_key": owner[2], "policy_arn": arn,
            })
            self._attached[owner].remove(arn)
            self._policies_changed()

    def attached_policies(self, account_id: str, kind: OwnerKind, owner_name: str,
                          path_prefix: str = "/") -> list[ManagedPolicy]:
        owner = self._owner(account_id, kind, owner_name)
        found = [self.policy(account_id, arn) for arn in list(self._attached.get(owner, []))]
        return sorted((p for p in found if p is not None and p.path.startswith(path_prefix)), key=lambda p: p.name.lower())

    def identity_policy_version(self, principal: Principal) -> int:
        """The version of ``principal``'s identity policies (for PolicyCache.get)."""
        return self.policy_generation

    def identity_policies(self, principal: Principal) -> list[str]:
        """The documents of every policy of ``principal`` (inline, then attached managed ones'
        default versions), for the policy engine. The root has none: it is allowed everything."""
        if principal.kind is PrincipalKind.ROOT:
            return []
        kind = OwnerKind.USER if principal.kind is PrincipalKind.USER else OwnerKind.ROLE
        owner = (principal.account_id, kind, principal.name.lower())
        docs = list(self._inline.get(owner, {}).values())
        for arn in list(self._attached.get(owner, [])):
            policy = self.policy(principal.account_id, arn)
            if policy is not None:
                docs.append(policy.document)
        return docs

    # -- sessions (issued by lambent.iam.sts) ---------------------------------------------------
    def issue_session(self, role: Role, session_name: str, duration_s: int) -> tuple[Session, str]:
        """New temporary credentials for ``role``; returns the session and its token (shown once)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            live = sum(1 for s in list(self._sessions.values()) if s.account_id == role.account_id and s.expires_at > now)
            if live >= LIVE_SESSIONS_PER_ACCOUNT:
                raise TooManyRequests("Rate exceeded", "CallerRateLimitExceeded", account=role.account_id)
            key_id = ids.temporary_access_key_id()
            while key_id in self._sessions or key_id in self._keys:
                key_id = ids.temporary_access_key_id()
            token = ids.session_token()
            session = Session(key_id, role.account_id, role.name, role.role_id, role.arn, session_name, now + duration_s, now,
                              ids.secret_access_key(), token_digest(token))
            self.store.insert("sessions", {
                "access_key_id": key_id, "account_id": role.account_id, "role_key": role.name.lower(),
                "role_name": role.name, "role_id": role.role_id, "role_arn": role.arn, "session_name": session_name,
                "secret_sealed": self._box.seal(session.secret_access_key, key_id), "token_sha256": session.token_sha256,
                "expires_at": session.expires_at, "created_at": now,
            })
            self._sessions[key_id] = session
            if self._index is not None:
                self._index = {**self._index, key_id: _session_principal(session)}
            return session, token

    def _expire(self, now: float) -> None:
        cutoff = now - EXPIRED_KEPT_S
        gone = [k for k, s in self._sessions.items() if s.expires_at <= cutoff]
        if gone:
            self.store.delete_expired_sessions(cutoff)
            for k in gone:
                del self._sessions[k]
            self._changed()


def _quota(entities: dict[tuple[str, str], Any], account_id: str, limit: int, name: str) -> None:
    if sum(1 for a, _ in list(entities) if a == account_id) >= limit:
        raise LimitExceeded(f"Cannot exceed quota for {name}: {limit}")


def _session_principal(s: Session) -> Principal:
    return Principal(
        PrincipalKind.ASSUMED_ROLE, s.account_id, s.arn, s.assumed_role_id, s.role_name, s.access_key_id,
        s.secret_access_key, s.token_sha256, s.expires_at, s.role_arn,
    )


def _tags_out(tags: Iterable[tuple[str, str]]) -> str:
    return json.dumps([[k, v] for k, v in tags])


def _tags_in(text: str) -> Tags:
    raw: Any = json.loads(text)
    return tuple((str(k), str(v)) for k, v in raw)
