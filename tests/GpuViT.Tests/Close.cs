namespace GpuViT.Tests;

/// <summary>
/// The closeness judgements of results against their references: by normalized mean squared
/// error over the whole result, or element by element. NaN must stand exactly where the
/// reference has NaN. A failure names what was compared and the first (or worst) element off.
/// </summary>
public static class Close
{
    /// <summary>
    /// Σ(actual − expected)² / Σ expected² ≤ <paramref name="maxNmse"/> (the plain sum where
    /// expected is all zeros), over the elements where neither is NaN.
    /// </summary>
    public static void Nmse(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double maxNmse, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double error = 0, norm = 0, worst = -1;
        int worstAt = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) || double.IsNaN(a))
            {
                Assert.True(double.IsNaN(e) && double.IsNaN(a), $"{what}[{i}]: expected {e:R}, got {a:R}");
                continue;
            }

            double d = a - e;
            error += d * d;
            norm += e * e;
            if (Math.Abs(d) > worst)
            {
                (worst, worstAt) = (Math.Abs(d), i);
            }
        }

        double nmse = norm == 0 ? error : error / norm;
        Assert.True(
            nmse <= maxNmse,
            $"{what}: normalized error {nmse:G3} > {maxNmse:G1}; worst [{worstAt}]: expected {expected[worstAt]:R}, got {actual[worstAt]:R}");
    }

    /// <inheritdoc cref="Nmse(ReadOnlySpan{double}, ReadOnlySpan{float}, double, string)"/>
    public static void Nmse(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double maxNmse, string what) =>
        Nmse(Widen(expected), actual, maxNmse, what);

    /// <summary>
    /// |actual − expected| ≤ <paramref name="absolute"/> + <paramref name="relative"/>·|expected| at
    /// every element, in double; an infinite expected value must be matched exactly.
    /// </summary>
    public static void Elementwise(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double relative, double absolute, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool close = double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? a == e
                : Math.Abs(a - e) <= absolute + relative * Math.Abs(e);
            Assert.True(close, $"{what}[{i}]: expected {e:R}, got {a:R} (error {Math.Abs(a - e):G3})");
        }
    }

    /// <inheritdoc cref="Elementwise(ReadOnlySpan{double}, ReadOnlySpan{float}, double, double, string)"/>
    public static void Elementwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double relative, double absolute, string what) =>
        Elementwise(Widen(expected), actual, relative, absolute, what);

    private static double[] Widen(ReadOnlySpan<float> values)
    {
        var wide = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            wide[i] = values[i];
        }

        return wide;
    }
}
