"""`slo-engine`: the one command line for the store, the synthetic fleet, the graph and the API.

Each command group lives in a module named for it; this module only assembles them."""

from __future__ import annotations

import typer

from cli.api_key_commands import api_keys_app
from cli.backtest_command import backtest
from cli.db_commands import db_app
from cli.demo_command import demo
from cli.fleet_commands import fleet_app
from cli.graph_commands import graph_app
from cli.materialize_command import materialize
from cli.prometheus_commands import prometheus_app
from cli.serve_command import serve
from cli.warehouse_commands import warehouse_app

app = typer.Typer(help="SLO Recommendation Engine", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(fleet_app, name="fleet")
app.add_typer(graph_app, name="graph")
app.add_typer(prometheus_app, name="prometheus")
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(warehouse_app, name="warehouse")
app.command("serve")(serve)
app.command("materialize")(materialize)
app.command("demo")(demo)
app.command("backtest")(backtest)

if __name__ == "__main__":
    app()
