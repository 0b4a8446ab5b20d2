"""The Jira connector: template, REST client, tools, and ADF conversions."""
