from taskforge._cli import main

main()
