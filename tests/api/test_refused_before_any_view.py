import pytest


@pytest.mark.django_db
def test_a_host_outside_allowed_hosts_gets_the_json_error_shape_under_the_api(client):
    response = client.post("/1.0/tenants/acme/twilio", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "Bad request."}


@pytest.mark.django_db
def test_outside_the_api_a_bad_host_gets_the_html_page(client):
    response = client.get("/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
