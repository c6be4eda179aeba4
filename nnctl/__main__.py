from nnctl.cli.main import main

main()
