from main import app


def test_action_is_registered_with_its_schema() -> None:
    action = app.get("get-page-title")
    assert action is not None
    assert action.input_schema["required"] == ["url"]
    assert action.output_schema["properties"]["title"]["type"] == "string"


def test_a_url_is_required() -> None:
    out = app.invoke_sync("get-page-title", {})
    assert out.status == "failed"
    assert out.status_reason == "Payload validation failed: url: Field required"
