from transformer_lab.benchmark.cli import main

if __name__ == "__main__":
    main()
