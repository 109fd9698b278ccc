"""What `make bench` measures beyond single runs: the train step against the machine's matmul
peak, and the seed analysis's own LeNet pipeline."""
