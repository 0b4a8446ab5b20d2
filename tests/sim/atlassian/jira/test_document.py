from policyarc.sim.atlassian.jira.document import is_document, to_html

LINKED = {
    "type": "doc",
    "version": 1,
    "content": [
        {
            "type": "paragraph",
            "content": [
                {
                    "type": "text",
                    "text": "click",
                    "marks": [{"type": "link", "attrs": {"href": "javascript:alert(1)"}}],
                },
                {"type": "text", "text": "<script>x</script>"},
            ],
        }
    ],
}


def test_rendered_fields_never_carry_script() -> None:
    html = to_html(LINKED)
    assert html is not None
    assert "javascript:" not in html
    assert "<script>" not in html


def test_routes_accept_what_the_validator_accepts() -> None:
    assert is_document(LINKED)
    assert not is_document({"type": "doc", "version": 1, "content": [{"type": "text", "text": "bare"}]})
    assert not is_document("plain text")
    assert to_html(None) is None
