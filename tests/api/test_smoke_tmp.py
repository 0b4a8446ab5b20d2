from conftest import Admin

async def test_smoke(admin: Admin) -> None:
    r = await admin.client.get("/api/v1/environments")
    print(r.status_code, r.text)
    r = await admin.client.get("/api/v1/openapi.json")
    print(r.status_code, r.text[:300])
    r = await admin.anonymous.get("/api/v1/environments")
    print(r.status_code, r.text, r.headers)
    assert 0
