"""The Policy pages over plain HTTP: a save needs the form's CSRF token and the reviewed version, tampered text is
refused with Cedar's messages, many rules fit in one form, oversized forms and bad version numbers are refused."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

from policyarc.policy import DEFAULT_POLICY
from policyarc.services import ensure_environment, show_policy
from tests.console.test_account import _signed_in, with_admin
from tests.e2e.harness import Product

POLICY = "/console/e/default/policy"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def _version(product: Product) -> int:
    async with product.gateway.sessions() as session:
        return (await show_policy(session, await ensure_environment(session))).version


async def test_a_save_needs_the_csrf_token_and_the_reviewed_version(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, _signed_in(product) as client:
        csrf = _csrf((await client.get(POLICY)).text)
        text = DEFAULT_POLICY + "\n"
        forged = await client.post(f"{POLICY}/save", data={"text": text, "base_version": "1", "action": "save"})
        assert forged.status_code == 403
        unbound = await client.post(f"{POLICY}/save", data={"text": text, "action": "save", "csrf": csrf})
        assert unbound.status_code == 400 and "which version it compared against" in unbound.text
        stale = await client.post(f"{POLICY}/save", data={"text": text, "base_version": "0", "action": "save",
                                                          "csrf": csrf})  # fmt: skip
        assert stale.status_code == 409 and "review your change against it" in stale.text
        assert await _version(product) == 1
        saved = await client.post(f"{POLICY}/save", data={"text": text, "base_version": "1", "action": "save",
                                                          "csrf": csrf})  # fmt: skip
        assert saved.status_code == 303 and saved.headers["location"] == f"{POLICY}/history?saved=2"
        assert await _version(product) == 2


async def test_tampered_text_on_the_review_form_is_refused_with_cedars_messages(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, _signed_in(product) as client:
        csrf = _csrf((await client.get(POLICY)).text)
        bad = 'permit (principal, action, resource == PolicyArc::Scope::"jira:admin");'
        answer = await client.post(f"{POLICY}/save", data={"text": bad, "base_version": "1", "action": "save",
                                                           "csrf": csrf})  # fmt: skip
        assert answer.status_code == 400 and "The policy has 1 problem." in answer.text
        assert await _version(product) == 1


async def test_forty_rules_fit_in_one_form_and_an_oversized_form_is_refused(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, _signed_in(product) as client:
        csrf = _csrf((await client.get(POLICY)).text)
        fields: list[tuple[str, str]] = [("csrf", csrf), ("action", "preview"), ("rule_count", "40")]
        for n in range(40):
            fields += [(f"rule-{n}-effect", "permit"), (f"rule-{n}-who", "emails"),
                       (f"rule-{n}-emails", f"user{n}@example.com"), (f"rule-{n}-domains", ""),
                       (f"rule-{n}-clients", "any"), (f"rule-{n}-other-clients", ""),
                       (f"rule-{n}-scope", "jira:issues:read"), (f"rule-{n}-scope", "jira:issues:write")]  # fmt: skip
        form = {"content-type": "application/x-www-form-urlencoded"}
        answer = await client.post(POLICY, content=urlencode(fields), headers=form)
        assert answer.status_code == 200, answer.text[:500]
        assert "Rule 40" in answer.text and "user39@example.com" in answer.text
        huge = await client.post(POLICY, data={"csrf": csrf, "source": "raw", "text": "x" * 1_000_000})
        assert huge.status_code == 413
        assert await _version(product) == 1


async def test_versions_are_whole_numbers_that_exist(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, _signed_in(product) as client:
        assert (await client.get(f"{POLICY}/history/1")).status_code == 200
        assert (await client.get(f"{POLICY}/history/7")).status_code == 404
        assert (await client.get(f"{POLICY}/history/1e3")).status_code == 400
        csrf = _csrf((await client.get(POLICY)).text)
        restore = await client.post(f"{POLICY}/history/7/restore", data={"csrf": csrf})
        assert restore.status_code == 404
        assert await _version(product) == 1
