"""hvac, the Python Vault client, drives a real `coffer server -dev`: KV v2 and KV v1 secrets and
the mount API (`sys/mounts`), asserting the replies hvac users depend on.

The server is `target/debug/coffer` (override with COFFER_BIN). The same tests run against a real
OpenBao dev server with COFFER_COMPAT_TARGET=bao, which is how their expectations were checked.
"""

import pytest
from hvac import exceptions

# hvac's own `patch` reads without choosing a deleted-version behaviour and warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:The raise_on_deleted_version parameter:DeprecationWarning")

def read(client, path, version=None, mount_point="secret"):
    return client.secrets.kv.v2.read_secret_version(
        path=path, version=version, mount_point=mount_point, raise_on_deleted_version=True
    )


def read_deleted(client, path, version=None, mount_point="secret"):
    """The 404 body OpenBao sends for a deleted or destroyed version (data null, metadata set)."""
    with pytest.raises(exceptions.InvalidPath) as raised:
        read(client, path, version=version, mount_point=mount_point)
    return raised.value.json


def enable_kv2(client, path):
    client.sys.enable_secrets_engine(backend_type="kv", path=path, options={"version": "2"})


# KV v2 -----------------------------------------------------------------------------------------


def test_create_with_cas_and_read_versions(client, name):
    kv = client.secrets.kv.v2
    first = kv.create_or_update_secret(path=name, secret={"user": "alice"}, cas=0)
    assert first["data"]["version"] == 1
    assert first["data"]["destroyed"] is False
    assert first["data"]["deletion_time"] == ""
    assert first["data"]["custom_metadata"] is None

    with pytest.raises(exceptions.InvalidRequest, match="check-and-set parameter did not match the current version"):
        kv.create_or_update_secret(path=name, secret={"user": "mallory"}, cas=0)
    second = kv.create_or_update_secret(path=name, secret={"user": "bob"}, cas=1)
    assert second["data"]["version"] == 2
    with pytest.raises(exceptions.InvalidRequest, match="check-and-set parameter did not match"):
        kv.create_or_update_secret(path=name, secret={"user": "mallory"}, cas=1)
    third = kv.create_or_update_secret(path=name, secret={"user": "carol", "n": 3})
    assert third["data"]["version"] == 3

    latest = read(client, name)
    assert latest["data"]["data"] == {"user": "carol", "n": 3}
    assert latest["data"]["metadata"]["version"] == 3
    assert read(client, name, version=1)["data"]["data"] == {"user": "alice"}
    assert read(client, name, version=2)["data"]["data"] == {"user": "bob"}
    with pytest.raises(exceptions.InvalidPath):
        read(client, name, version=9)
    with pytest.raises(exceptions.InvalidPath):
        read(client, f"{name}-missing")


def test_patch_merges_into_a_new_version(client, name):
    kv = client.secrets.kv.v2
    kv.create_or_update_secret(path=name, secret={"a": "1", "b": "2"})
    patched = kv.patch(path=name, secret={"b": "3", "c": "4"})
    assert patched["data"]["version"] == 2
    assert read(client, name)["data"]["data"] == {"a": "1", "b": "3", "c": "4"}
    assert read(client, name, version=1)["data"]["data"] == {"a": "1", "b": "2"}
    with pytest.raises(exceptions.InvalidPath, match="patch only works on existing data"):
        kv.patch(path=f"{name}-missing", secret={"a": "1"})


def test_list_secrets_shows_keys_and_folders(client, name):
    kv = client.secrets.kv.v2
    for key in ("x", "y", "sub/z", "sub/deeper/w"):
        kv.create_or_update_secret(path=f"{name}/{key}", secret={"k": key})
    assert kv.list_secrets(path=name)["data"]["keys"] == ["sub/", "x", "y"]
    assert kv.list_secrets(path=f"{name}/sub/")["data"]["keys"] == ["deeper/", "z"]
    assert f"{name}/" in kv.list_secrets(path="")["data"]["keys"]
    with pytest.raises(exceptions.InvalidPath):
        kv.list_secrets(path=f"{name}-missing")


def test_metadata_read_and_update(client, name):
    kv = client.secrets.kv.v2
    for n in range(3):
        kv.create_or_update_secret(path=name, secret={"n": str(n)})
    metadata = kv.read_secret_metadata(path=name)["data"]
    assert metadata["current_version"] == 3
    assert metadata["max_versions"] == 0
    assert metadata["cas_required"] is False
    assert metadata["delete_version_after"] == "0s"
    assert metadata["custom_metadata"] is None
    assert sorted(metadata["versions"]) == ["1", "2", "3"]
    assert metadata["versions"]["2"]["deletion_time"] == ""
    assert metadata["versions"]["2"]["destroyed"] is False
    assert metadata["created_time"] == metadata["versions"]["1"]["created_time"]
    assert metadata["updated_time"] == metadata["versions"]["3"]["created_time"]

    reply = kv.update_metadata(
        path=name,
        max_versions=5,
        delete_version_after="768h",
        custom_metadata={"owner": "team-a", "tier": "1"},
    )
    assert reply.status_code == 204
    metadata = kv.read_secret_metadata(path=name)["data"]
    assert metadata["max_versions"] == 5
    assert metadata["delete_version_after"] == "768h0m0s"
    assert metadata["custom_metadata"] == {"owner": "team-a", "tier": "1"}
    assert metadata["current_version"] == 3
    # Key-level custom metadata is echoed in every version read.
    assert read(client, name)["data"]["metadata"]["custom_metadata"] == {"owner": "team-a", "tier": "1"}

    kv.update_metadata(path=name, cas_required=True)
    with pytest.raises(exceptions.InvalidRequest, match="check-and-set parameter required for this call"):
        kv.create_or_update_secret(path=name, secret={"n": "no cas"})
    assert kv.create_or_update_secret(path=name, secret={"n": "cas"}, cas=3)["data"]["version"] == 4

    with pytest.raises(exceptions.InvalidPath):
        kv.read_secret_metadata(path=f"{name}-missing")


def test_delete_undelete_destroy_and_delete_metadata(client, name):
    kv = client.secrets.kv.v2
    for n in range(1, 4):
        kv.create_or_update_secret(path=name, secret={"v": str(n)})

    assert kv.delete_latest_version_of_secret(path=name).status_code == 204
    deleted = read_deleted(client, name)
    assert deleted["data"]["data"] is None
    assert deleted["data"]["metadata"]["version"] == 3
    assert deleted["data"]["metadata"]["deletion_time"] != ""
    assert deleted["data"]["metadata"]["destroyed"] is False

    assert kv.delete_secret_versions(path=name, versions=[1]).status_code == 204
    with pytest.raises(exceptions.InvalidPath):
        read(client, name, version=1)
    assert read(client, name, version=2)["data"]["data"] == {"v": "2"}

    assert kv.undelete_secret_versions(path=name, versions=[1, 3]).status_code == 204
    assert read(client, name, version=1)["data"]["data"] == {"v": "1"}
    assert read(client, name)["data"]["data"] == {"v": "3"}
    assert read(client, name)["data"]["metadata"]["deletion_time"] == ""

    assert kv.destroy_secret_versions(path=name, versions=[2]).status_code == 204
    destroyed = read_deleted(client, name, version=2)
    assert destroyed["data"]["data"] is None
    assert destroyed["data"]["metadata"]["destroyed"] is True
    versions = kv.read_secret_metadata(path=name)["data"]["versions"]
    assert versions["2"]["destroyed"] is True
    assert [versions[v]["destroyed"] for v in ("1", "3")] == [False, False]
    # A destroyed version cannot be brought back.
    kv.undelete_secret_versions(path=name, versions=[2])
    assert read_deleted(client, name, version=2)["data"]["data"] is None

    # Deleting, undeleting or destroying a key that does not exist is not an error.
    for call in (kv.delete_secret_versions, kv.undelete_secret_versions, kv.destroy_secret_versions):
        assert call(path=f"{name}-missing", versions=[1]).status_code == 204
    assert kv.delete_latest_version_of_secret(path=f"{name}-missing").status_code == 204

    assert kv.delete_metadata_and_all_versions(path=name).status_code == 204
    with pytest.raises(exceptions.InvalidPath):
        kv.read_secret_metadata(path=name)
    assert read_deleted(client, name, version=1) == {"errors": []}


def test_configure_and_read_configuration(client, name):
    enable_kv2(client, name)
    kv = client.secrets.kv.v2
    assert kv.read_configuration(mount_point=name)["data"] == {
        "cas_required": False,
        "delete_version_after": "0s",
        "max_versions": 0,
        "metadata_cas_required": False,
    }
    reply = kv.configure(max_versions=3, cas_required=True, delete_version_after="1h", mount_point=name)
    assert reply.status_code == 204
    config = kv.read_configuration(mount_point=name)["data"]
    assert (config["max_versions"], config["cas_required"], config["delete_version_after"]) == (3, True, "1h0m0s")

    with pytest.raises(exceptions.InvalidRequest, match="check-and-set parameter required"):
        kv.create_or_update_secret(path="k", secret={"a": "b"}, mount_point=name)
    for version in range(5):
        kv.create_or_update_secret(path="k", secret={"v": str(version)}, cas=version, mount_point=name)
    metadata = kv.read_secret_metadata(path="k", mount_point=name)["data"]
    # The mount keeps three versions: the two oldest are gone.
    assert metadata["current_version"] == 5
    assert sorted(metadata["versions"]) == ["3", "4", "5"]
    assert metadata["oldest_version"] == 3
    with pytest.raises(exceptions.InvalidPath):
        read(client, "k", version=1, mount_point=name)
    client.sys.disable_secrets_engine(path=name)


# Mounts ----------------------------------------------------------------------------------------


def test_mount_enable_list_tune_read_disable(client, name):
    sys = client.sys
    reply = sys.enable_secrets_engine(
        backend_type="kv", path=name, description="hvac mount", options={"version": "2"}
    )
    assert reply.status_code == 204
    mounts = sys.list_mounted_secrets_engines()
    entry = mounts["data"][f"{name}/"]
    assert entry["type"] == "kv"
    assert entry["description"] == "hvac mount"
    assert entry["options"] == {"version": "2"}
    assert entry["accessor"].startswith("kv_")
    assert entry["local"] is False and entry["seal_wrap"] is False
    assert entry["config"]["default_lease_ttl"] == 0 and entry["config"]["max_lease_ttl"] == 0
    # The legacy top-level copy of each mount is still there.
    assert mounts[f"{name}/"] == entry
    assert {"cubbyhole/", "secret/", "sys/"} <= set(mounts["data"])
    assert mounts["data"]["secret/"]["options"] == {"version": "2"}

    with pytest.raises(exceptions.InvalidRequest, match=f"path is already in use at {name}/"):
        sys.enable_secrets_engine(backend_type="kv", path=name, options={"version": "2"})

    config = sys.read_mount_configuration(path=name)["data"]
    assert config["default_lease_ttl"] == 2764800
    assert config["max_lease_ttl"] == 2764800
    assert config["options"] == {"version": "2"}

    assert (
        sys.tune_mount_configuration(path=name, default_lease_ttl="1h", max_lease_ttl="24h", description="tuned")
        .status_code
        == 204
    )
    config = sys.read_mount_configuration(path=name)["data"]
    assert (config["default_lease_ttl"], config["max_lease_ttl"], config["description"]) == (3600, 86400, "tuned")
    assert config["force_no_cache"] is False
    assert sys.list_mounted_secrets_engines()["data"][f"{name}/"]["description"] == "tuned"

    client.secrets.kv.v2.create_or_update_secret(path="k", secret={"a": "b"}, mount_point=name)
    assert sys.disable_secrets_engine(path=name).status_code == 204
    assert f"{name}/" not in sys.list_mounted_secrets_engines()["data"]
    assert sys.disable_secrets_engine(path=name).status_code == 204
    # A new mount at the same path starts empty.
    enable_kv2(client, name)
    with pytest.raises(exceptions.InvalidPath):
        read(client, "k", mount_point=name)
    sys.disable_secrets_engine(path=name)


def test_mount_errors(client, name):
    with pytest.raises(exceptions.InvalidRequest):
        client.sys.enable_secrets_engine(backend_type="no-such-engine", path=name)
    assert f"{name}/" not in client.sys.list_mounted_secrets_engines()["data"]
    with pytest.raises(exceptions.InvalidRequest, match="path is already in use"):
        client.sys.enable_secrets_engine(backend_type="kv", path="secret", options={"version": "2"})


# KV v1 -----------------------------------------------------------------------------------------


def test_kv_v1(client, name):
    client.sys.enable_secrets_engine(backend_type="kv", path=name)
    assert client.sys.list_mounted_secrets_engines()["data"][f"{name}/"]["type"] == "kv"
    kv = client.secrets.kv.v1

    assert kv.create_or_update_secret(path="app/one", secret={"foo": "bar", "ttl": "1h"}, mount_point=name).status_code == 204
    kv.create_or_update_secret(path="app/two", secret={"n": 2}, mount_point=name)
    kv.create_or_update_secret(path="top", secret={"x": "y"}, mount_point=name)
    one = kv.read_secret(path="app/one", mount_point=name)
    assert one["data"] == {"foo": "bar", "ttl": "1h"}
    assert one["lease_duration"] == 3600
    assert one["lease_id"] == ""
    two = kv.read_secret(path="app/two", mount_point=name)
    assert two["data"] == {"n": 2}
    assert two["lease_duration"] == 2764800

    # A write replaces the whole secret; there are no versions.
    assert kv.create_or_update_secret(path="app/one", secret={"foo": "baz"}, mount_point=name).status_code == 204
    assert kv.read_secret(path="app/one", mount_point=name)["data"] == {"foo": "baz"}

    assert kv.list_secrets(path="", mount_point=name)["data"]["keys"] == ["app/", "top"]
    assert kv.list_secrets(path="app", mount_point=name)["data"]["keys"] == ["one", "two"]
    with pytest.raises(exceptions.InvalidPath):
        kv.list_secrets(path="nothing", mount_point=name)

    assert kv.delete_secret(path="app/one", mount_point=name).status_code == 204
    with pytest.raises(exceptions.InvalidPath):
        kv.read_secret(path="app/one", mount_point=name)
    assert kv.delete_secret(path="app/one", mount_point=name).status_code == 204
    assert kv.list_secrets(path="app", mount_point=name)["data"]["keys"] == ["two"]
    client.sys.disable_secrets_engine(path=name)
