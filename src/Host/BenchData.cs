namespace GpuViT.Host;

/// <summary>Inputs for the benchmarks: deterministic uniform noise in [-0.5, 0.5).</summary>
internal static class BenchData
{
    public static float[] Noise(long length, int seed = 1)
    {
        var random = new Random(seed);
        var values = new float[checked((int)length)];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)random.NextDouble() - 0.5f;
        }

        return values;
    }
}
