using BenchmarkDotNet.Running;

if (args.Length > 0 && args[0] == "interleaved")
{
    // The cpu GEMM and OpenBLAS alternating in one process: see InterleavedGemm.
    GpuViT.Bench.InterleavedGemm.Run(args[1..]);
}
else if (args.Length > 0 && args[0] == "onnx")
{
    // GpuViT and ONNX Runtime on one ViT-S/16, alternating in one process: see OnnxComparison.
    return GpuViT.Bench.OnnxComparison.Run(args[1..]);
}
else
{
    BenchmarkSwitcher.FromAssembly(typeof(GpuViT.Bench.GemmKernelBenchmarks).Assembly).Run(args);
}

return 0;
