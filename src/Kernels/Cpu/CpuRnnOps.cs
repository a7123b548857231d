using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// The recurrent ops as managed SIMD code on all cores. A step is parallel over image rows (c, y);
/// each row streams its contiguous block of unshared weights once for eight images at a time
/// (eight register accumulators), so the weights move from memory once per step for a batch of
/// eight. Input and state are copied into zero-padded planes first, so every tap is a plain
/// unaligned vector load with no border tests.
/// </summary>
public sealed unsafe class CpuRnnOps : RnnOps
{
    private const int Images = 8;

    /// <summary>Floats ahead of the weight stream to prefetch: the hardware prefetchers alone left the step latency-bound.</summary>
    private const int PrefetchAhead = 1024;
    private float[] _paddedInput = [];
    private float[] _paddedState = [];
    private float[] _means = [];
    private float[] _transposed = [];

    public CpuRnnOps(Device device)
        : base(HostViews.RequireHostDevice(device))
    {
    }

    private float* Pointer(DeviceView<float> view) => HostViews.Pointer(Device, view);

    /// <summary>The pointers and sizes one row of a step needs.</summary>
    private readonly struct StepArgs
    {
        public required float* Input { get; init; }
        public required float* State { get; init; }
        public required float* InputWeights { get; init; }
        public required float* RecurrentWeights { get; init; }
        public required float* Bias { get; init; }
        public required float* Next { get; init; }
        public required RnnStepShape Shape { get; init; }
        public required int PaddedWidth { get; init; }
        public required int PaddedPlane { get; init; }
    }

    private protected override void StepCore(RnnStepShape shape, DeviceView<float> input, DeviceView<float> state, DeviceView<float> inputWeights,
        DeviceView<float> recurrentWeights, DeviceView<float> bias, DeviceView<float> next, DeviceStream? stream)
    {
        int r = shape.Kernel / 2, paddedWidth = shape.Width + 2 * r, paddedPlane = (shape.Height + 2 * r) * paddedWidth;
        Pad(Pointer(input), ref _paddedInput, shape.Batch * Library.Rnn.InputChannels, shape, paddedWidth, paddedPlane);
        Pad(Pointer(state), ref _paddedState, shape.Batch * shape.Channels, shape, paddedWidth, paddedPlane);
        fixed (float* paddedInput = _paddedInput, paddedState = _paddedState)
        {
            var args = new StepArgs
            {
                Input = paddedInput,
                State = paddedState,
                InputWeights = Pointer(inputWeights),
                RecurrentWeights = Pointer(recurrentWeights),
                Bias = Pointer(bias),
                Next = Pointer(next),
                Shape = shape,
                PaddedWidth = paddedWidth,
                PaddedPlane = paddedPlane,
            };
            int rows = shape.Channels * shape.Height;
            int parts = Math.Min(rows, Environment.ProcessorCount);
            Parallel.For(0, parts, part =>
            {
                for (int row = rows * part / parts; row < rows * (part + 1) / parts; row++)
                {
                    Row(args, row / shape.Height, row % shape.Height);
                }
            });
        }
    }

    /// <summary>Copies planes [planes][H][W] into zero-bordered [planes][H+2r][W+2r]; the borders are written once, when the buffer is made.</summary>
    private static void Pad(float* source, ref float[] padded, int planes, RnnStepShape shape, int paddedWidth, int paddedPlane)
    {
        long length = (long)planes * paddedPlane + Vector256<float>.Count;
        if (padded.Length != length)
        {
            padded = GC.AllocateArray<float>(checked((int)length), pinned: true);
        }

        int r = shape.Kernel / 2;
        fixed (float* destination = padded)
        {
            float* d = destination;
            Parallel.For(0, planes, plane =>
            {
                for (int y = 0; y < shape.Height; y++)
                {
                    Buffer.MemoryCopy(source + ((long)plane * shape.Height + y) * shape.Width, d + (long)plane * paddedPlane + (y + r) * paddedWidth + r,
                        shape.Width * sizeof(float), shape.Width * sizeof(float));
                }
            });
        }
    }

    private static void Row(in StepArgs a, int c, int y)
    {
        RnnStepShape s = a.Shape;
        int width = s.Width, vector = Vector256<float>.Count;
        // The vector paths need weights blocked by eight units (W a multiple of 8), or shared weights.
        bool vectors = s.Shared || width % Library.Rnn.WeightLanes == 0;
        for (int image = 0; image < s.Batch; image += Images)
        {
            int x = 0;
            if (vectors && s.Batch - image >= Images)
            {
                for (; x + vector <= width; x += vector)
                {
                    EightImages(a, c, y, x, image);
                }
            }
            else if (vectors)
            {
                for (int b = image; b < Math.Min(s.Batch, image + Images); b++)
                {
                    for (x = 0; x + 2 * vector <= width; x += 2 * vector)
                    {
                        OneImage(a, c, y, x, b, 2);
                    }

                    for (; x + vector <= width; x += vector)
                    {
                        OneImage(a, c, y, x, b, 1);
                    }
                }
            }

            for (; x < width; x++)
            {
                for (int b = image; b < Math.Min(s.Batch, image + Images); b++)
                {
                    Store(a, b, c, y, x, Unit(a, b, c, y, x));
                }
            }
        }
    }

    /// <summary>
    /// Units x .. x+8·vectors−1 of row (c, y) for one image: each weight is used once, so this is
    /// the bandwidth-bound path; two vectors give two independent FMA chains.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OneImage(in StepArgs a, int c, int y, int x, int image, int vectors)
    {
        RnnStepShape s = a.Shape;
        int k = s.Kernel, plane = a.PaddedPlane, pw = a.PaddedWidth, lanes = Library.Rnn.WeightLanes;
        int unit = (c * s.Height + y) * s.Width + x;
        Vector256<float> a0 = s.Shared ? Vector256.Create(a.Bias[c]) : Vector256.Load(a.Bias + unit);
        Vector256<float> a1 = s.Shared ? a0 : (vectors > 1 ? Vector256.Load(a.Bias + unit + lanes) : Vector256<float>.Zero);
        for (int source = 0; source < 2; source++)
        {
            int channels = source == 0 ? Library.Rnn.InputChannels : s.Channels;
            int taps = channels * k * k;
            float* padded = (source == 0 ? a.Input : a.State) + (long)image * channels * plane;
            float* weights = source == 0 ? a.InputWeights : a.RecurrentWeights;
            float* w = s.Shared ? weights + (long)c * taps : weights + (long)unit * taps;
            // The next eight units' block follows this one: taps·8 floats on (shared: the same weights).
            long next = s.Shared ? 0 : (long)taps * lanes;
            int j = 0;
            for (int ci = 0; ci < channels; ci++)
            {
                for (int dy = 0; dy < k; dy++)
                {
                    float* p = padded + (long)ci * plane + (y + dy) * pw + x;
                    for (int dx = 0; dx < k; dx++, j++)
                    {
                        float* wj = s.Shared ? w : w + j * lanes;
                        if (Sse.IsSupported && !s.Shared)
                        {
                            Sse.Prefetch0(wj + PrefetchAhead);
                            Sse.Prefetch0(wj + next + PrefetchAhead);
                        }

                        Vector256<float> w0 = s.Shared ? Vector256.Create(w[j]) : Vector256.Load(wj);
                        a0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(p + dx), a0);
                        if (vectors > 1)
                        {
                            Vector256<float> w1 = s.Shared ? w0 : Vector256.Load(wj + next);
                            a1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(p + dx + lanes), a1);
                        }
                    }
                }
            }
        }

        float* output = a.Next + (long)image * s.Units + unit;
        Activate(a0, s.Relu).Store(output);
        if (vectors > 1)
        {
            Activate(a1, s.Relu).Store(output + lanes);
        }
    }

    /// <summary>Eight output lanes (x .. x+7) of row (c, y) for eight images: each weight vector is loaded once and used eight times.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EightImages(in StepArgs a, int c, int y, int x, int image)
    {
        RnnStepShape s = a.Shape;
        int k = s.Kernel, plane = a.PaddedPlane, pw = a.PaddedWidth;
        int unit = (c * s.Height + y) * s.Width + x;
        Vector256<float> start = s.Shared ? Vector256.Create(a.Bias[c]) : Vector256.Load(a.Bias + unit);
        Vector256<float> a0 = start, a1 = start, a2 = start, a3 = start, a4 = start, a5 = start, a6 = start, a7 = start;
        for (int source = 0; source < 2; source++)
        {
            int channels = source == 0 ? Library.Rnn.InputChannels : s.Channels;
            int taps = channels * k * k;
            float* padded = source == 0 ? a.Input : a.State;
            float* weights = source == 0 ? a.InputWeights : a.RecurrentWeights;
            // Unshared: the block [taps][8] of units x .. x+7, read front to back; shared: channel c's [taps].
            float* w = s.Shared ? weights + (long)c * taps : weights + (long)((c * s.Height + y) * s.Width + x) * taps;
            long imageStride = (long)channels * plane;
            int j = 0;
            for (int ci = 0; ci < channels; ci++)
            {
                for (int dy = 0; dy < k; dy++)
                {
                    float* p = padded + (long)image * imageStride + (long)ci * plane + (y + dy) * pw + x;
                    for (int dx = 0; dx < k; dx++, j++)
                    {
                        if (Sse.IsSupported && !s.Shared)
                        {
                            Sse.Prefetch0(w + j * Library.Rnn.WeightLanes + PrefetchAhead);
                        }

                        Vector256<float> wv = s.Shared ? Vector256.Create(w[j]) : Vector256.Load(w + j * Library.Rnn.WeightLanes);
                        float* q = p + dx;
                        a0 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(q), a0);
                        a1 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(q + imageStride), a1);
                        a2 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(q + 2 * imageStride), a2);
                        a3 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(q + 3 * imageStride), a3);
                        a4 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(q + 4 * imageStride), a4);
                        a5 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(q + 5 * imageStride), a5);
                        a6 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(q + 6 * imageStride), a6);
                        a7 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(q + 7 * imageStride), a7);
                    }
                }
            }
        }

        long units = s.Units;
        float* next = a.Next + (long)image * units + unit;
        Activate(a0, s.Relu).Store(next);
        Activate(a1, s.Relu).Store(next + units);
        Activate(a2, s.Relu).Store(next + 2 * units);
        Activate(a3, s.Relu).Store(next + 3 * units);
        Activate(a4, s.Relu).Store(next + 4 * units);
        Activate(a5, s.Relu).Store(next + 5 * units);
        Activate(a6, s.Relu).Store(next + 6 * units);
        Activate(a7, s.Relu).Store(next + 7 * units);
    }

    /// <summary>One unit of one image, scalar: the row tails and batches not a multiple of eight.</summary>
    private static float Unit(in StepArgs a, int image, int c, int y, int x)
    {
        RnnStepShape s = a.Shape;
        int k = s.Kernel, plane = a.PaddedPlane, pw = a.PaddedWidth;
        float sum = s.Shared ? a.Bias[c] : a.Bias[(c * s.Height + y) * s.Width + x];
        for (int source = 0; source < 2; source++)
        {
            int channels = source == 0 ? Library.Rnn.InputChannels : s.Channels;
            int taps = channels * k * k;
            float* padded = source == 0 ? a.Input : a.State;
            float* weights = source == 0 ? a.InputWeights : a.RecurrentWeights;
            int row = c * s.Height + y;
            int j = 0;
            for (int ci = 0; ci < channels; ci++)
            {
                for (int dy = 0; dy < k; dy++)
                {
                    float* p = padded + ((long)image * channels + ci) * plane + (y + dy) * pw + x;
                    for (int dx = 0; dx < k; dx++, j++)
                    {
                        sum += (s.Shared ? weights[c * taps + j] : weights[Library.Rnn.UnsharedWeightIndex(row, x, j, taps, s.Width)]) * p[dx];
                    }
                }
            }
        }

        return sum;
    }

    private static void Store(in StepArgs a, int image, int c, int y, int x, float sum) =>
        a.Next[(long)image * a.Shape.Units + (c * a.Shape.Height + y) * a.Shape.Width + x] = a.Shape.Relu ? MathF.Max(sum, 0f) : MathF.Tanh(sum);

    /// <summary>relu, or tanh as 1 − 2/(e²ˣ + 1) (saturates to ±1 without NaN: Exp clamps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Activate(Vector256<float> v, bool relu) =>
        relu ? Vector256.Max(v, Vector256<float>.Zero)
             : Vector256<float>.One - Vector256.Create(2f) / (CpuMath.Exp(v + v) + Vector256<float>.One);

    /// <summary>
    /// Pooled: each (image, channel) plane summed with vectors, the planes in parallel when large,
    /// then the small [classes × C] product as vectors over the classes; per unit: a matrix–vector product, classes in parallel, each
    /// weight row read once per four images.
    /// </summary>
    private protected override void ReadoutCore(DeviceView<float> state, DeviceView<float> weights, DeviceView<float> bias, DeviceView<float> logits,
        int batch, int channels, int positions, int classes, bool pooled, DeviceStream? stream)
    {
        long units = (long)channels * positions;
        float* h = Pointer(state), w = Pointer(weights), b = Pointer(bias), o = Pointer(logits);
        if (pooled)
        {
            // The means, in parallel only when the state is large enough to pay for it (a Parallel.For
            // costs tens of µs, the whole readout of a 32×32 batch about as much).
            float[] means = Scratch(ref _means, batch * channels);
            void Mean(int plane) => means[plane] = Sum(h + (long)plane * positions, positions) / positions;
            if (batch * units >= 1 << 18)
            {
                Parallel.For(0, batch * channels, Mean);
            }
            else
            {
                for (int plane = 0; plane < batch * channels; plane++)
                {
                    Mean(plane);
                }
            }

            // logits = bias + W·means with W [classes][C] transposed (C·classes copies per call), so
            // each channel adds a broadcast mean times a vector of classes.
            float[] transposed = Scratch(ref _transposed, channels * classes);
            for (int k = 0; k < classes; k++)
            {
                for (int c = 0; c < channels; c++)
                {
                    transposed[c * classes + k] = w[(long)k * channels + c];
                }
            }

            fixed (float* wt = transposed)
            {
                for (int image = 0; image < batch; image++)
                {
                    float* logitsOfImage = o + (long)image * classes;
                    new ReadOnlySpan<float>(b, classes).CopyTo(new Span<float>(logitsOfImage, classes));
                    for (int c = 0; c < channels; c++)
                    {
                        AddScaled(logitsOfImage, wt + c * classes, means[image * channels + c], classes);
                    }
                }
            }
        }
        else
        {
            Parallel.For(0, classes, k =>
            {
                float* row = w + k * units;
                for (int image = 0; image < batch; image += 4)
                {
                    // Four images per pass over the row; a short pass repeats the last image and keeps only the real ones.
                    int last = batch - 1;
                    Vector4 dots = Dot4(row, h + image * units, h + Math.Min(image + 1, last) * units,
                        h + Math.Min(image + 2, last) * units, h + Math.Min(image + 3, last) * units, units);
                    for (int i = 0; i < 4 && image + i < batch; i++)
                    {
                        o[(long)(image + i) * classes + k] = b[k] + dots[i];
                    }
                }
            });
        }
    }

    /// <summary>Σ x[0..n) with four vector accumulators.</summary>
    private static float Sum(float* x, int n)
    {
        int lanes = Vector256<float>.Count, i = 0;
        Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
        for (; i + 4 * lanes <= n; i += 4 * lanes)
        {
            s0 += Vector256.Load(x + i);
            s1 += Vector256.Load(x + i + lanes);
            s2 += Vector256.Load(x + i + 2 * lanes);
            s3 += Vector256.Load(x + i + 3 * lanes);
        }

        float sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        for (; i < n; i++)
        {
            sum += x[i];
        }

        return sum;
    }

    private static float[] Scratch(ref float[] array, int length)
    {
        if (array.Length < length)
        {
            array = new float[length];
        }

        return array;
    }

    /// <summary>y[0..n) += a · x[0..n).</summary>
    private static void AddScaled(float* y, float* x, float a, int n)
    {
        int lanes = Vector256<float>.Count, i = 0;
        Vector256<float> scale = Vector256.Create(a);
        for (; i + lanes <= n; i += lanes)
        {
            Vector256.FusedMultiplyAdd(scale, Vector256.Load(x + i), Vector256.Load(y + i)).Store(y + i);
        }

        for (; i < n; i++)
        {
            y[i] += a * x[i];
        }
    }

    /// <summary>The dot products of one weight row with four state vectors of length n.</summary>
    private static Vector4 Dot4(float* w, float* h0, float* h1, float* h2, float* h3, long n)
    {
        int lanes = Vector256<float>.Count;
        long i = 0;
        Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
        for (; i + lanes <= n; i += lanes)
        {
            Vector256<float> wv = Vector256.Load(w + i);
            s0 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(h0 + i), s0);
            s1 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(h1 + i), s1);
            s2 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(h2 + i), s2);
            s3 = Vector256.FusedMultiplyAdd(wv, Vector256.Load(h3 + i), s3);
        }

        var dots = new Vector4(Vector256.Sum(s0), Vector256.Sum(s1), Vector256.Sum(s2), Vector256.Sum(s3));
        for (; i < n; i++)
        {
            dots += w[i] * new Vector4(h0[i], h1[i], h2[i], h3[i]);
        }

        return dots;
    }
}
