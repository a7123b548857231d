namespace GpuViT.Tests.Kernels;

/// <summary>
/// Kernels that between them use every construct of the kernel language. The test project is
/// compiled by the same generator as the library, so these are built for OpenCL and CUDA and
/// run on the emulator like any user's kernels.
/// </summary>
public static class LanguageKernels
{
    public const int Bins = 8;
    public const int HistogramGroup = 64;
    private const float Half = 0.5f;

    /// <summary>
    /// Per element: arithmetic, every operator and compound assignment, casts, every control-flow
    /// statement, device functions (one calling another) and every math intrinsic. Writes
    /// 16 floats and 4 ints per element.
    /// </summary>
    [Kernel]
    public static void EveryConstruct(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<int> k, ReadOnlyView<uint> bits,
        ReadWriteView<float> f, ReadWriteView<int> ints, int n, float scale, uint mask, bool negate)
    {
        int i = thread.Global.X;
        if (i >= n)
        {
            return;
        }

        const int Floats = 16;
        var v = x[i];
        int o = i * Floats;

        // Math intrinsics, on arguments kept inside each function's domain.
        f[o + 0] = KernelMath.Exp(Clamp(v, -4f, 4f));
        f[o + 1] = KernelMath.Log(KernelMath.Abs(v) + 1f);
        f[o + 2] = KernelMath.Sqrt(KernelMath.Abs(v)) + KernelMath.Rsqrt(KernelMath.Abs(v) + 1f);
        f[o + 3] = KernelMath.Tanh(v) + KernelMath.Erf(v);
        f[o + 4] = KernelMath.Pow(KernelMath.Abs(v) + Half, 1.5f);
        f[o + 5] = KernelMath.Fma(v, scale, 1f) + KernelMath.Floor(v) + KernelMath.Ceiling(v);
        f[o + 6] = KernelMath.Min(v, scale) + KernelMath.Max(v, -scale);
        f[o + 7] = v % 0.75f;

        // Arithmetic, compound assignment and casts.
        float acc = v * scale - 2f / (KernelMath.Abs(v) + 1f);
        acc += 1f;
        acc -= 0.25f;
        acc *= 1.5f;
        acc /= 2f;
        acc %= 3f;
        f[o + 8] = acc;
        f[o + 9] = (float)(int)(v * 10f) + (float)(uint)(KernelMath.Abs(v) * 3f);
        f[o + 10] = negate ? -v : v;
        f[o + 11] = Twice(Clamp(v, -1f, 1f));

        // Loops: for with break and continue, while, do.
        float sum = 0f;
        for (int j = 0; j < 10; j++)
        {
            if (j == 7)
            {
                break;
            }

            if (j % 2 == 1)
            {
                continue;
            }

            sum += (float)j * v;
        }

        f[o + 12] = sum;

        int steps = 0;
        float walk = KernelMath.Abs(v) * 8f;
        while (walk > 1f)
        {
            walk *= Half;
            steps++;
        }

        f[o + 13] = (float)steps;

        int count = 0;
        do
        {
            count += 3;
        }
        while (count < k[i] % 7);

        f[o + 14] = (float)count;

        // if / else if / else, logical operators and comparisons.
        float category;
        if (v < -1f || v > 1f)
        {
            category = 2f;
        }
        else if (v >= 0f && !(v == 0f))
        {
            category = 1f;
        }
        else
        {
            category = v != 0f ? -1f : 0f;
        }

        f[o + 15] = category;

        // Integer and bitwise operators, ++/--, and uint arithmetic.
        int a = k[i];
        int b = a;
        b++;
        ++b;
        b--;
        --b;
        int shifted = (a << 3) >> 1;
        shifted ^= 0x55;
        shifted &= 0x7fff;
        shifted |= 1;
        shifted <<= 2;
        shifted >>= 1;
        uint u = bits[i];
        u = (u & mask) | (~u & 0xF0u);
        u ^= 0x0F0Fu;
        u += 7u;
        u >>= 1;
        ints[i * 4 + 0] = a / 3 + a % 5 - b * 2;
        ints[i * 4 + 1] = shifted;
        ints[i * 4 + 2] = (int)(u % 100000u);
        ints[i * 4 + 3] = KernelMath.Abs(a) + KernelMath.Min(a, 3) + KernelMath.Max(a, -3) + (int)KernelMath.Min(u, 9u) + (int)KernelMath.Max(u, 2u);
    }

    /// <summary>
    /// A histogram of values in [0, 1) into <see cref="Bins"/> bins: every group counts into
    /// shared bins with atomics, then adds them to the global counts (int) and sums (float).
    /// Groups of <see cref="HistogramGroup"/> threads.
    /// </summary>
    [Kernel]
    public static void Histogram(KernelThread thread, ReadOnlyView<float> values, ReadWriteView<int> counts, ReadWriteView<float> sums, int n)
    {
        var localCounts = Group.Shared<int>(Bins);
        var localSums = Group.Shared<float>(Bins);
        int lane = thread.Local.X;
        if (lane < Bins)
        {
            localCounts[lane] = 0;
            localSums[lane] = 0f;
        }

        Group.Barrier();

        int i = thread.Global.X;
        if (i < n)
        {
            float value = values[i];
            int bin = KernelMath.Min((int)(value * Bins), Bins - 1);
            Atomic.Add(ref localCounts[bin], 1);
            Atomic.Add(ref localSums[bin], value);
        }

        Group.Barrier();

        if (lane < Bins)
        {
            Atomic.Add(ref counts[lane], localCounts[lane]);
            Atomic.Add(ref sums[lane], localSums[lane]);
        }
    }

    /// <summary>Every index and size of the thread, 18 ints per thread, at its global linear index.</summary>
    [Kernel]
    public static void ThreadIndices(KernelThread thread, ReadWriteView<int> output)
    {
        int linear = (thread.Global.Z * thread.GlobalSize.Y + thread.Global.Y) * thread.GlobalSize.X + thread.Global.X;
        int o = linear * 18;
        output[o + 0] = thread.Global.X;
        output[o + 1] = thread.Global.Y;
        output[o + 2] = thread.Global.Z;
        output[o + 3] = thread.Local.X;
        output[o + 4] = thread.Local.Y;
        output[o + 5] = thread.Local.Z;
        output[o + 6] = thread.Group.X;
        output[o + 7] = thread.Group.Y;
        output[o + 8] = thread.Group.Z;
        output[o + 9] = thread.GroupSize.X;
        output[o + 10] = thread.GroupSize.Y;
        output[o + 11] = thread.GroupSize.Z;
        output[o + 12] = thread.GroupCount.X;
        output[o + 13] = thread.GroupCount.Y;
        output[o + 14] = thread.GroupCount.Z;
        output[o + 15] = thread.GlobalSize.X;
        output[o + 16] = thread.GlobalSize.Y;
        output[o + 17] = thread.GlobalSize.Z;
    }

    [DeviceFunction]
    public static float Clamp(float value, float low, float high) => KernelMath.Min(KernelMath.Max(value, low), high);

    /// <summary>Calls another device function, so the generator must follow the call graph.</summary>
    [DeviceFunction]
    public static float Twice(float value)
    {
        return 2f * Clamp(value, -10f, 10f);
    }
}
