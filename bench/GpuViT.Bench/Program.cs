using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(GpuViT.Bench.GemmKernelBenchmarks).Assembly).Run(args);
