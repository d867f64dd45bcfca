"""hvac drives access control on a real dev server (fixtures in conftest.py): ACL policies
(`sys/policy`), auth methods (`sys/auth`), userpass users and logins, and AppRole roles and
logins, with the tokens they issue allowed exactly what their policies say.

Run with COFFER_COMPAT_TARGET=bao to check the same expectations against OpenBao.
"""

import hvac
import pytest
from hvac import exceptions


def policy_for(name):
    """A policy allowing reads below `secret/<name>/allowed/` only."""
    return f'path "secret/data/{name}/allowed/*" {{\n  capabilities = ["read"]\n}}\n'


def anonymous(server_addr):
    """A client with no token (hvac would otherwise take VAULT_TOKEN or ~/.vault-token)."""
    return hvac.Client(url=server_addr, token="")


def put(client, path, secret):
    client.secrets.kv.v2.create_or_update_secret(path=path, secret=secret, mount_point="secret")


def read(client, path):
    return client.secrets.kv.v2.read_secret_version(
        path=path, mount_point="secret", raise_on_deleted_version=True
    )


@pytest.fixture
def guarded(client, name):
    """A policy named `name` and two secrets: one it allows reading, one it does not."""
    client.sys.create_or_update_policy(name=name, policy=policy_for(name))
    put(client, f"{name}/allowed/config", {"api_key": "allowed-value"})
    put(client, f"{name}/denied/config", {"api_key": "denied-value"})
    yield name
    client.sys.delete_policy(name=name)


def assert_allowed_and_denied(user_client, name):
    """The token of `user_client` reads what the policy allows and is refused the rest."""
    secret = read(user_client, f"{name}/allowed/config")
    assert secret["data"]["data"] == {"api_key": "allowed-value"}
    with pytest.raises(exceptions.Forbidden):
        read(user_client, f"{name}/denied/config")
    with pytest.raises(exceptions.Forbidden):
        put(user_client, f"{name}/allowed/config", {"api_key": "overwritten"})


# Policies --------------------------------------------------------------------------------------


def test_policy_create_read_list_update_delete(client, name):
    text = policy_for(name)
    client.sys.create_or_update_policy(name=name, policy=text)

    read_back = client.sys.read_policy(name=name)
    assert read_back["data"]["name"] == name
    assert read_back["data"]["rules"] == text
    listed = client.sys.list_policies()["data"]
    assert name in listed["policies"]
    assert name in listed["keys"]
    assert {"default", "root"} <= set(listed["policies"])

    updated = 'path "secret/data/other/*" {\n  capabilities = ["list"]\n}\n'
    client.sys.create_or_update_policy(name=name, policy=updated)
    assert client.sys.read_policy(name=name)["data"]["rules"] == updated

    client.sys.delete_policy(name=name)
    with pytest.raises(exceptions.InvalidPath):
        client.sys.read_policy(name=name)
    assert name not in client.sys.list_policies()["data"]["policies"]
    # Deleting again is not an error.
    client.sys.delete_policy(name=name)


def test_policy_names_are_lowercased_and_bad_policies_refused(client, name):
    client.sys.create_or_update_policy(name=name.upper(), policy=policy_for(name))
    assert client.sys.read_policy(name=name)["data"]["name"] == name
    client.sys.delete_policy(name=name)

    with pytest.raises(exceptions.InvalidRequest, match="failed to parse policy"):
        client.sys.create_or_update_policy(name=name, policy='path "x" { capabilities = ["bogus"] }')
    with pytest.raises(exceptions.InvalidPath):
        client.sys.read_policy(name=name)
    with pytest.raises(exceptions.InvalidRequest, match='cannot delete "root" policy'):
        client.sys.delete_policy(name="root")


# Auth methods ----------------------------------------------------------------------------------


def test_auth_method_enable_list_disable(client, name):
    client.sys.enable_auth_method(method_type="userpass", path=name, description="for tests")
    methods = client.sys.list_auth_methods()["data"]
    assert methods[f"{name}/"]["type"] == "userpass"
    assert methods[f"{name}/"]["description"] == "for tests"
    assert methods["token/"]["type"] == "token"

    with pytest.raises(exceptions.InvalidRequest, match="path is already in use"):
        client.sys.enable_auth_method(method_type="userpass", path=name)

    client.sys.disable_auth_method(path=name)
    assert f"{name}/" not in client.sys.list_auth_methods()["data"]


# Userpass --------------------------------------------------------------------------------------


def test_userpass_users_and_logins(client, server_addr, guarded):
    name = guarded
    userpass = client.auth.userpass
    client.sys.enable_auth_method(method_type="userpass", path=name)
    try:
        userpass.create_or_update_user(
            username="app", password="first-password", policies=[name], mount_point=name
        )
        user = userpass.read_user(username="app", mount_point=name)["data"]
        assert user["token_policies"] == [name]
        assert user["policies"] == [name], "set through the legacy field, shown under it too"
        assert "password" not in user
        userpass.create_or_update_user(username="other", password="other-password", mount_point=name)
        assert userpass.list_user(mount_point=name)["data"]["keys"] == ["app", "other"]

        userpass.update_password_on_user(username="app", password="second-password", mount_point=name)
        stranger = anonymous(server_addr)
        with pytest.raises(exceptions.InvalidRequest, match="invalid username or password"):
            stranger.auth.userpass.login(username="app", password="first-password", mount_point=name)
        assert not stranger.token

        app = anonymous(server_addr)
        login = app.auth.userpass.login(username="app", password="second-password", mount_point=name)
        assert app.token == login["auth"]["client_token"]
        assert sorted(login["auth"]["policies"]) == sorted(["default", name])
        assert login["auth"]["metadata"] == {"username": "app"}
        assert app.is_authenticated()
        assert_allowed_and_denied(app, name)

        userpass.delete_user(username="app", mount_point=name)
        with pytest.raises(exceptions.InvalidPath):
            userpass.read_user(username="app", mount_point=name)
        assert userpass.list_user(mount_point=name)["data"]["keys"] == ["other"]
        with pytest.raises(exceptions.InvalidRequest, match="invalid username or password"):
            anonymous(server_addr).auth.userpass.login(
                username="app", password="second-password", mount_point=name
            )
    finally:
        client.sys.disable_auth_method(path=name)


def test_userpass_unknown_user_gets_the_same_answer(client, server_addr, name):
    client.sys.enable_auth_method(method_type="userpass", path=name)
    try:
        client.auth.userpass.create_or_update_user(username="known", password="right", mount_point=name)
        answers = []
        for username, password in [("known", "wrong"), ("unknown", "wrong")]:
            with pytest.raises(exceptions.InvalidRequest) as raised:
                anonymous(server_addr).auth.userpass.login(
                    username=username, password=password, mount_point=name
                )
            answers.append(raised.value.errors)
        assert answers == [["invalid username or password"]] * 2
    finally:
        client.sys.disable_auth_method(path=name)


# AppRole ---------------------------------------------------------------------------------------


def test_approle_roles_and_logins(client, server_addr, guarded):
    name = guarded
    approle = client.auth.approle
    client.sys.enable_auth_method(method_type="approle", path=name)
    try:
        approle.create_or_update_approle(
            role_name="agent", token_policies=[name], token_ttl="1h", mount_point=name
        )
        role = approle.read_role(role_name="agent", mount_point=name)["data"]
        assert role["token_policies"] == [name]
        assert role["token_ttl"] == 3600
        assert role["bind_secret_id"] is True
        assert approle.list_roles(mount_point=name)["data"]["keys"] == ["agent"]

        role_id = approle.read_role_id(role_name="agent", mount_point=name)["data"]["role_id"]
        generated = approle.generate_secret_id(role_name="agent", mount_point=name)["data"]
        assert generated["secret_id"] and generated["secret_id_accessor"]

        with pytest.raises(exceptions.InvalidRequest):
            anonymous(server_addr).auth.approle.login(
                role_id=role_id, secret_id="not-the-secret-id", mount_point=name
            )

        agent = anonymous(server_addr)
        login = agent.auth.approle.login(role_id=role_id, secret_id=generated["secret_id"], mount_point=name)
        assert agent.token == login["auth"]["client_token"]
        assert sorted(login["auth"]["policies"]) == sorted(["default", name])
        assert login["auth"]["metadata"] == {"role_name": "agent"}
        assert login["auth"]["lease_duration"] == 3600
        looked_up = agent.auth.token.lookup_self()["data"]
        assert sorted(looked_up["policies"]) == sorted(["default", name])
        assert_allowed_and_denied(agent, name)

        approle.delete_role(role_name="agent", mount_point=name)
        with pytest.raises(exceptions.InvalidPath):
            approle.list_roles(mount_point=name)
        with pytest.raises(exceptions.InvalidRequest):
            anonymous(server_addr).auth.approle.login(
                role_id=role_id, secret_id=generated["secret_id"], mount_point=name
            )
    finally:
        client.sys.disable_auth_method(path=name)
