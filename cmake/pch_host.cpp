// Compiled only to host the precompiled <torch/torch.h> that executables reuse.
int main() { return 0; }
