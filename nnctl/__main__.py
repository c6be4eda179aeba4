from nnctl.cli.main import app

app(prog_name="nnctl")
