from gradcli.entry import main

main()
