"""PolicyArc: an MCP gateway that lets AI clients use a company's SaaS tools as the signed-in user."""

__version__ = "0.1.0"
