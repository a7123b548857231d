using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Ops;

/// <summary>
/// Attention, fused and unfused, on cpu (many shapes), OpenCL and the emulator (small shapes),
/// against a plain double-precision loop; NaN propagation, large logits, argument checks and the
/// unfused path's scratch.
/// </summary>
public sealed class AttentionTests(TestDevices devices) : IClassFixture<TestDevices>
{
    private const double MaxNmse = 1e-11;

    /// <summary>(batch, tokens, heads, headSize): one token, primes, ViT-S at 128 and 224, heads of 1 to 200, key blocks split unevenly.</summary>
    public static TheoryData<int, int, int, int> CpuShapes => new()
    {
        { 1, 1, 1, 8 },
        { 3, 1, 2, 64 },
        { 2, 13, 3, 16 },
        { 1, 65, 6, 64 },
        { 1, 197, 6, 64 },
        { 2, 197, 6, 64 },
        { 3, 37, 4, 8 },
        { 1, 67, 3, 40 },
        { 2, 31, 2, 128 },
        { 1, 300, 2, 64 },
        { 2, 129, 1, 128 },
        { 1, 23, 2, 12 },
        { 1, 17, 3, 1 },
        { 1, 41, 1, 200 },
    };

    [Theory]
    [MemberData(nameof(CpuShapes))]
    public void Cpu_fused_and_unfused_match_the_double_loop(int batch, int tokens, int heads, int headSize)
    {
        float[] qkv = TestData.Random(batch * tokens * 3 * heads * headSize, 21, -2f, 2f);
        double[] expected = Reference(qkv, batch, tokens, heads, headSize);
        TransformerOps cpu = devices.Ops("cpu");

        Close.Nmse(ToFloat(expected), Run(cpu, qkv, batch, tokens, heads, headSize, fused: true), MaxNmse, "cpu fused");
        Close.Nmse(ToFloat(expected), Run(cpu, qkv, batch, tokens, heads, headSize, fused: false), MaxNmse, "cpu unfused");
    }

    [Theory]
    [KernelDeviceData(1, 1, 1, 8, true)]
    [KernelDeviceData(1, 1, 1, 8, false)]
    [KernelDeviceData(2, 13, 3, 16, true)]
    [KernelDeviceData(2, 13, 3, 16, false)]
    [KernelDeviceData(2, 197, 6, 64, true)]
    [KernelDeviceData(2, 197, 6, 64, false)]
    [KernelDeviceData(3, 37, 4, 8, true)]
    [KernelDeviceData(1, 67, 3, 40, true)]
    [KernelDeviceData(1, 67, 3, 40, false)]
    [KernelDeviceData(2, 50, 2, 128, true)]
    [KernelDeviceData(2, 50, 2, 128, false)]
    [KernelDeviceData(1, 71, 2, 100, true)]
    [KernelDeviceData(1, 23, 2, 12, true)]
    [KernelDeviceData(1, 23, 2, 12, false)]
    [InlineData("emulator", 1, 9, 2, 8, true)]
    [InlineData("emulator", 1, 9, 2, 8, false)]
    [InlineData("emulator", 2, 35, 1, 40, true)]
    [InlineData("emulator", 1, 5, 1, 128, true)]
    [InlineData("emulator", 1, 17, 1, 20, false)]
    public void Kernels_match_the_double_loop(string backend, int batch, int tokens, int heads, int headSize, bool fused)
    {
        float[] qkv = TestData.Random(batch * tokens * 3 * heads * headSize, 22, -2f, 2f);
        float[] expected = ToFloat(Reference(qkv, batch, tokens, heads, headSize));

        Close.Nmse(expected, Run(devices.Ops(backend), qkv, batch, tokens, heads, headSize, fused), MaxNmse, $"{backend} fused={fused}");
    }

    /// <summary>Every backend, fused and unfused.</summary>
    public static TheoryData<string, bool> EveryBackendFusedAndUnfused()
    {
        var data = new TheoryData<string, bool>();
        foreach (string backend in TestBackends.KernelDevices.Prepend("cpu").Append(TestBackends.Emulator))
        {
            data.Add(backend, true);
            data.Add(backend, false);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryBackendFusedAndUnfused))]
    public void NaN_in_a_query_makes_only_that_query_and_head_NaN(string backend, bool fused)
    {
        int batch = 2, tokens = 11, heads = 2, headSize = 8, dim = heads * headSize;
        float[] qkv = TestData.Random(batch * tokens * 3 * dim, 23);
        int image = 1, token = 4, head = 1;
        qkv[(image * tokens + token) * 3 * dim + head * headSize + 3] = float.NaN;

        float[] result = Run(devices.Ops(backend), qkv, batch, tokens, heads, headSize, fused);

        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < tokens; t++)
            {
                for (int c = 0; c < dim; c++)
                {
                    float value = result[(b * tokens + t) * dim + c];
                    bool poisoned = b == image && t == token && c / headSize == head;
                    Assert.True(poisoned ? float.IsNaN(value) : float.IsFinite(value), $"{backend} fused={fused}: output[{b}, {t}, {c}] = {value}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(EveryBackendFusedAndUnfused))]
    public void Large_logits_stay_finite_and_match(string backend, bool fused)
    {
        // Scores in the thousands: exp of them overflows unless the max is subtracted first.
        int batch = 1, tokens = backend == "emulator" ? 9 : 45, heads = 2, headSize = 16;
        float[] qkv = TestData.Random(batch * tokens * 3 * heads * headSize, 24, -2f, 2f).Select(v => v * 100f).ToArray();
        float[] expected = ToFloat(Reference(qkv, batch, tokens, heads, headSize));

        float[] result = Run(devices.Ops(backend), qkv, batch, tokens, heads, headSize, fused);

        Assert.All(result, v => Assert.True(float.IsFinite(v)));
        Close.Nmse(expected, result, 1e-6, $"{backend} fused={fused} ×100");
    }

    [Theory]
    [InlineData("cpu")]
    [KernelDeviceData]
    public void Views_at_offsets_read_and_write_only_their_elements(string backend)
    {
        TransformerOps ops = devices.Ops(backend);
        int batch = 2, tokens = 19, heads = 3, headSize = 8, dim = heads * headSize, lead = 5;
        float[] qkv = TestData.Random(batch * tokens * 3 * dim, 25);
        float[] expected = ToFloat(Reference(qkv, batch, tokens, heads, headSize));
        using var input = ops.Device.Upload<float>([.. new float[lead], .. qkv]);
        foreach (bool fused in new[] { true, false })
        {
            using var output = ops.Device.Upload<float>(Enumerable.Repeat(-7f, batch * tokens * dim + 2 * lead).ToArray());
            ops.Attention(input.View(lead, qkv.Length), output.View(lead, batch * tokens * dim), batch, tokens, heads, headSize, fused);
            ops.Device.Synchronize();

            float[] all = output.ToArray();
            Close.Nmse(expected, all[lead..^lead], MaxNmse, $"{backend} fused={fused}");
            Assert.All(all[..lead].Concat(all[^lead..]), v => Assert.Equal(-7f, v));
        }
    }

    [Theory]
    [InlineData("cpu")]
    [KernelDeviceData]
    public void Unfused_scratch_grows_and_is_reused(string backend)
    {
        TransformerOps ops = devices.Ops(backend);
        foreach ((int batch, int tokens) in new[] { (1, 7), (2, 40), (1, 12), (2, 40) })
        {
            float[] qkv = TestData.Random(batch * tokens * 3 * 32, 26 + tokens);
            Close.Nmse(ToFloat(Reference(qkv, batch, tokens, 2, 16)), Run(ops, qkv, batch, tokens, 2, 16, fused: false), MaxNmse, $"{backend} {batch}x{tokens}");
        }
    }

    [Fact]
    public void Kernel_ops_free_the_unfused_scratch_when_disposed()
    {
        using Device device = Devices.Open("emulator").Device;
        using var qkv = device.Upload<float>(TestData.Random(4 * 3 * 8, 27));
        using var output = device.Allocate<float>(4 * 8);
        int buffers = device.Memory.Buffers;
        var ops = new KernelTransformerOps(device);
        int withOps = device.Memory.Buffers; // the one-element placeholder for absent optional buffers

        ops.Attention(qkv, output, 1, 4, 1, 8, fused: false);
        Assert.Equal(withOps + 1, device.Memory.Buffers);
        ops.Dispose();

        Assert.Equal(buffers, device.Memory.Buffers);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("emulator")]
    public void Wrong_sizes_are_argument_errors_that_say_what_is_wrong(string backend)
    {
        TransformerOps ops = devices.Ops(backend);
        using var qkv = ops.Device.Allocate<float>(2 * 5 * 3 * 16);
        using var output = ops.Device.Allocate<float>(2 * 5 * 16);

        Assert.Contains("'qkv' has 480 elements", Assert.Throws<ArgumentException>(() => ops.Attention(qkv, output, 2, 6, 2, 8)).Message);
        Assert.Contains("'output' has 159 elements", Assert.Throws<ArgumentException>(() => ops.Attention(qkv, output.View(0, 159), 2, 5, 2, 8)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.Attention(qkv, output, 2, 5, 0, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.Attention(qkv, output, -1, 5, 2, 8));
        if (backend == "emulator")
        {
            using var wide = ops.Device.Allocate<float>(3 * 256);
            Assert.Contains("headSize 256", Assert.Throws<ArgumentException>(() => ops.Attention(wide, wide, 1, 1, 1, 256)).Message);
        }
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("emulator")]
    public void No_images_or_no_tokens_is_no_work(string backend)
    {
        TransformerOps ops = devices.Ops(backend);
        using var empty = ops.Device.Allocate<float>(1);
        ops.Attention(empty, empty, 0, 5, 2, 8);
        ops.Attention(empty, empty, 3, 0, 2, 8, fused: false);
    }

    private static float[] Run(TransformerOps ops, float[] qkv, int batch, int tokens, int heads, int headSize, bool fused)
    {
        using var input = ops.Device.Upload<float>(qkv);
        using var output = ops.Device.Allocate<float>(batch * tokens * heads * headSize);
        ops.Attention(input, output, batch, tokens, heads, headSize, fused);
        return output.ToArray();
    }

    /// <summary>The definition in double precision: per image, head and query, softmax over the keys with the max subtracted, times V.</summary>
    private static double[] Reference(float[] qkv, int batch, int tokens, int heads, int headSize)
    {
        int dim = heads * headSize, stride = 3 * dim;
        double scale = 1 / Math.Sqrt(headSize);
        var output = new double[batch * tokens * dim];
        var scores = new double[tokens];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < tokens; i++)
                {
                    int q = (b * tokens + i) * stride + h * headSize;
                    for (int s = 0; s < tokens; s++)
                    {
                        int k = (b * tokens + s) * stride + dim + h * headSize;
                        double dot = 0;
                        for (int c = 0; c < headSize; c++)
                        {
                            dot += (double)qkv[q + c] * qkv[k + c];
                        }

                        scores[s] = dot * scale;
                    }

                    OpReference.Softmax(scores);

                    for (int c = 0; c < headSize; c++)
                    {
                        double value = 0;
                        for (int s = 0; s < tokens; s++)
                        {
                            value += scores[s] * qkv[(b * tokens + s) * stride + 2 * dim + h * headSize + c];
                        }

                        output[(b * tokens + i) * dim + h * headSize + c] = value;
                    }
                }
            }
        }

        return output;
    }

    private static float[] ToFloat(double[] values) => values.Select(v => (float)v).ToArray();
}
