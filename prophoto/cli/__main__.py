from prophoto.cli.main import app

app(prog_name="prophoto")
