from tests.helpers import Console, bearer, body


def test_setup_login_app_key_parameters_flow(client):
    console = Console(client)
    owner = console.setup_owner()
    app = console.create_app(owner, mode="chat")
    key = console.create_key(owner, app["id"])

    response = client.get("/v1/parameters", headers=bearer(key))

    assert response.status_code == 200
    assert body(response)["system_parameters"]["file_size_limit"] == 15
