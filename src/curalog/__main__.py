from curalog.cli import main

main()
