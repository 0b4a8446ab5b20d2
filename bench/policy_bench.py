"""Policy decision latency: Cedar per cache miss, and the decision cache per hit.

    .venv/bin/python bench/policy_bench.py [--cached 100000] [--uncached 5000]

Prints microseconds per decision for: Cedar with the policy text parsed on every call (what the engine
avoids), an engine miss (parsed policy set, one request), a three-scope `allowed_scopes` miss (one batch),
and engine hits. Times include the Python loop around each call.
"""

from __future__ import annotations

import argparse
import json
import time

import cedarpy

from policyarc.caller import Caller
from policyarc.policy import DEFAULT_POLICY, ClientInfo, PolicyEngine, PolicyRegistry, Principal, Rule, rules_to_cedar
from policyarc.policy.schema import entities_for, request_for

SCOPES = ("jira:issues:read", "jira:issues:write", "jira:projects:read")
WRITE = "jira:issues:write"
CLIENT = ClientInfo("client-claude", "Claude Code")


def realistic_policy() -> str:
    """The default grant plus twenty rules of each kind the form makes."""
    rules = [Rule("permit", ("jira:issues:read",))]
    for i in range(5):
        emails = tuple(f"u{i}-{j}@example.com" for j in range(8))
        rules.append(Rule("permit", (WRITE,), "emails", emails=emails))
        rules.append(Rule("permit", ("jira:projects:read", WRITE), "domains", domains=(f"team{i}.example",)))
        rules.append(Rule("forbid", (WRITE,), "emails", emails=(f"contractor{i}@example.com",)))
        rules.append(Rule("forbid", SCOPES[1:], clients=(f"untrusted-client-{i}",)))
    return rules_to_cedar(rules)


def report(label: str, started: float, n: int, unit: str = "decision") -> None:
    elapsed = time.perf_counter() - started
    print(f"  {label:<56} {elapsed / n * 1e6:9.2f} µs/{unit:<8} (n={n})")


def bench(name: str, text: str, cached: int, uncached: int) -> None:
    print(f"{name} ({len(cedarpy.PolicySet.from_str(text))} Cedar policies)")
    entities = json.dumps(entities_for(Principal("u", "u@example.com"), CLIENT))
    request = request_for("u", CLIENT.client_id, WRITE)
    n = max(uncached // 5, 1)
    started = time.perf_counter()
    for _ in range(n):
        cedarpy.is_authorized(request, text, entities)
    report("cedarpy.is_authorized, text parsed every call", started, n)

    # Each miss is a user the cache has not seen; the cache is large enough never to evict here.
    users = [Principal(f"user-{i}", f"u{i % 5}-{i % 8}@example.com") for i in range(uncached)]
    engine = PolicyEngine(text, 1, SCOPES, cache_size=uncached + 1)
    started = time.perf_counter()
    for user in users:
        engine.allowed(user, CLIENT, WRITE)
    report("engine.allowed, miss", started, uncached)

    engine = PolicyEngine(text, 1, SCOPES, cache_size=uncached + 1)
    started = time.perf_counter()
    for user in users:
        engine.allowed_scopes(user, CLIENT, SCOPES)
    report("engine.allowed_scopes, 3 scopes, miss (one batch)", started, uncached, "call")

    engine = PolicyEngine(text, 1, SCOPES)
    warm = users[:1000]
    for user in warm:
        engine.allowed_scopes(user, CLIENT, SCOPES)
    before = engine.evaluations
    started = time.perf_counter()
    for i in range(cached):
        engine.allowed(warm[i % 1000], CLIENT, WRITE)
    report("engine.allowed, hit (1,000 warm users)", started, cached)
    n = max(cached // 10, 1)
    started = time.perf_counter()
    for i in range(n):
        engine.allowed_scopes(warm[i % 1000], CLIENT, SCOPES)
    report("engine.allowed_scopes, 3 scopes, hit", started, n, "call")
    registry = PolicyRegistry(SCOPES)
    registry.install("env", text, 1)
    callers = [
        Caller(u.user_id, u.email, "acct", CLIENT.client_id, CLIENT.name, "env", frozenset(SCOPES), 0.0) for u in warm
    ]
    for c in callers:
        registry.allowed(c, WRITE)
    started = time.perf_counter()
    for i in range(cached):
        registry.allowed(callers[i % 1000], WRITE)
    report("registry.allowed(caller, scope), hit (the tool-call path)", started, cached)
    if engine.evaluations != before:
        raise SystemExit("cache hits reached Cedar: the cache is broken")


def main() -> None:
    parser = argparse.ArgumentParser(description="Policy decision latency, cached and uncached.")
    parser.add_argument("--cached", type=int, default=100_000)
    parser.add_argument("--uncached", type=int, default=5_000)
    args = parser.parse_args()
    bench("default policy", DEFAULT_POLICY, args.cached, args.uncached)
    bench("21-rule policy", realistic_policy(), args.cached, args.uncached)


if __name__ == "__main__":
    main()
