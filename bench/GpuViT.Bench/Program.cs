using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(GpuViT.Bench.MatMulBenchmarks).Assembly).Run(args);
