"""The simulator's JQL engine: `parse_jql` (syntax, cached) -> `compile_query` (names and values) -> filter and sort.

query = parse_jql(text)                       # JqlError on a syntax error
compiled = compile_query(query, JqlContext(...))  # JqlError listing every unknown field, value, ...
hits = compiled.sort([i for i in issues if compiled.matches(i)])
compiled.bounded                              # False: answer UNBOUNDED (the route's 400)
"""

from policyarc.sim.atlassian.jql.ast import Query
from policyarc.sim.atlassian.jql.errors import UNBOUNDED, JqlError
from policyarc.sim.atlassian.jql.evaluate import CompiledQuery, JqlContext, compile_query
from policyarc.sim.atlassian.jql.parser import parse_jql

__all__ = ["UNBOUNDED", "CompiledQuery", "JqlContext", "JqlError", "Query", "compile_query", "parse_jql"]
