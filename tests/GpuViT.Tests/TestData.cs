namespace GpuViT.Tests;

/// <summary>Seeded random test data: the same seed gives the same values on every run.</summary>
public static class TestData
{
    /// <summary><paramref name="count"/> floats drawn uniformly from [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static float[] Random(int count, int seed, float low = -1f, float high = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = low + (float)random.NextDouble() * (high - low);
        }

        return values;
    }
}
