from tradeswarm.cli import main

main()
