using System.Runtime.InteropServices;

namespace GpuViT.Bench;

/// <summary>Operands for the benchmarks: 64-byte-aligned native floats, uniform in [−1, 1), freed with NativeMemory.AlignedFree.</summary>
internal static unsafe class NativeNoise
{
    public static float* Allocate(long count, Random random)
    {
        var data = (float*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(float)), 64);
        for (long i = 0; i < count; i++)
        {
            data[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return data;
    }
}
