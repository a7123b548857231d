using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;

namespace GpuViT.Tests.Ops;

/// <summary>
/// The op fronts (<see cref="TransformerOps"/>, <see cref="RnnOps"/>) check every call once for
/// all backends: the same bad call is refused by the managed ops and by the kernel ops with the
/// same exception, argument name and message, before any backend code runs.
/// </summary>
public sealed class OpFrontTests : IDisposable
{
    private readonly Device _emulator = Devices.Open("emulator").Device;
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        _owned.ForEach(o => o.Dispose());
        _emulator.Dispose();
    }

    public static TheoryData<string> BadCalls => new(BadTransformerCalls.Keys.Concat(BadRnnCalls.Keys));

    [Theory]
    [MemberData(nameof(BadCalls))]
    public void Managed_and_kernel_ops_refuse_a_bad_call_alike(string call)
    {
        // Both backends on one device (the emulator's memory is the host's), so only the ops differ.
        Exception managed = Refusal(call, new CpuTransformerOps(_emulator), new CpuRnnOps(_emulator));
        Exception kernels = Refusal(call, new KernelTransformerOps(_emulator), new KernelRnnOps(_emulator));

        Assert.Equal(managed.GetType(), kernels.GetType());
        Assert.IsAssignableFrom<ArgumentException>(managed);
        Assert.Equal(((ArgumentException)managed).ParamName, ((ArgumentException)kernels).ParamName);
        Assert.Equal(managed.Message, kernels.Message);
    }

    [Fact]
    public void A_weight_packed_by_one_backend_is_refused_by_another_on_the_same_device()
    {
        TransformerOps managed = Own(new CpuTransformerOps(_emulator)), kernels = Own(new KernelTransformerOps(_emulator));
        using PackedWeight weight = managed.PackWeight(new float[6], 2, 3);
        using DeviceBuffer<float> x = _emulator.Allocate<float>(6), y = _emulator.Allocate<float>(4);

        var e = Assert.Throws<ArgumentException>(() => kernels.Gemm(x, weight, null, null, y, 2));
        Assert.Equal("w", e.ParamName);
        Assert.Contains("was packed by other ops", e.Message);
    }

    [Fact]
    public void A_step_with_more_units_than_an_int_holds_is_refused_as_such()
    {
        // 20,000 channels × 500 × 500 positions: 5·10⁹ units, which RnnStepShape.Units (an int) wraps to 7·10⁸.
        using var ops = new CpuRnnOps(_emulator);
        using DeviceBuffer<float> big = _emulator.Allocate<float>(100);
        var shape = new RnnStepShape(1, 20_000, 500, 500, 1, Shared: true, Relu: true);

        var e = Assert.Throws<ArgumentException>(() => ops.Step(shape, big, big, big, big, big, big));
        Assert.Contains("too large for 32-bit indexing", e.Message);
    }

    private delegate void TransformerCall(TransformerOps ops, Buffers b);

    private delegate void RnnCall(RnnOps ops, Buffers b);

    /// <summary>Each a call with one thing wrong; the rest of it is valid.</summary>
    private static readonly Dictionary<string, TransformerCall> BadTransformerCalls = new()
    {
        ["gemm: x too short"] = (ops, b) => ops.Gemm(b.Short, b.Big, null, null, b.Big, 3, 4, 4),
        ["gemm: w too short"] = (ops, b) => ops.Gemm(b.Big, b.Short, null, null, b.Big, 3, 4, 4),
        ["gemm: bias too short"] = (ops, b) => ops.Gemm(b.Big, b.Big, b.Big.View(0, 3), null, b.Big, 3, 4, 4),
        ["gemm: residual too short"] = (ops, b) => ops.Gemm(b.Big, b.Big, null, b.Short, b.Big, 3, 4, 4),
        ["gemm: negative m"] = (ops, b) => ops.Gemm(b.Big, b.Big, null, null, b.Big, -1, 4, 4),
        ["gemm: unknown activation"] = (ops, b) => ops.Gemm(b.Big, b.Big, null, null, b.Big, 3, 4, 4, (Activation)7),
        ["gemm: past int indices"] = (ops, b) => ops.Gemm(b.Big, b.Big, null, null, b.Big, 1 << 16, 1 << 16, 1),
        ["pack: w length"] = (ops, b) => ops.PackWeight(new float[5], 2, 3),
        ["attention: qkv too short"] = (ops, b) => ops.Attention(b.Short, b.Big, 1, 2, 1, 4),
        ["attention: no heads"] = (ops, b) => ops.Attention(b.Big, b.Big, 1, 2, 0, 4),
        ["layernorm: gamma too short"] = (ops, b) => ops.LayerNorm(b.Big, b.Big.View(0, 3), b.Big, b.Big, 2, 4, 1e-5f),
        ["layernorm: negative eps"] = (ops, b) => ops.LayerNorm(b.Big, b.Big, b.Big, b.Big, 2, 4, -1f),
        ["softmax: y too short"] = (ops, b) => ops.Softmax(b.Big, b.Short, 3, 4),
        ["gelu: not a gelu"] = (ops, b) => ops.Gelu(b.Big, b.Big, 4, Activation.None),
        ["gelu: negative n"] = (ops, b) => ops.Gelu(b.Big, b.Big, -4),
        ["add: c too short"] = (ops, b) => ops.Add(b.Big, b.Big, b.Short, 12),
        ["positions: class token too short"] = (ops, b) => ops.ClassTokenAndPositions(b.Big, b.Big.View(0, 3), b.Big, 1, 2, 4),
        ["pool: prefix past the tokens"] = (ops, b) => ops.Pool(b.Big, b.Big, 1, 2, 4, PoolMode.Mean, 2),
        ["patch embed: size not a multiple"] = (ops, b) => ops.PatchEmbed(b.Big, b.Weight(ops, 4, 12), b.Big, b.Big, 1, 3, 5, 2, 4, 0),
        ["patch embed: weight shape"] = (ops, b) => ops.PatchEmbed(b.Big, b.Weight(ops, 4, 11), b.Big, b.Big, 1, 3, 4, 2, 4, 0),
    };

    private static readonly Dictionary<string, RnnCall> BadRnnCalls = new()
    {
        ["rnn step: even kernel"] = (ops, b) => ops.Step(new RnnStepShape(1, 2, 2, 2, 2, false, true), b.Big, b.Big, b.Big, b.Big, b.Big, b.Big),
        ["rnn step: state too short"] = (ops, b) => ops.Step(new RnnStepShape(1, 4, 2, 2, 1, true, true), b.Big, b.Short, b.Big, b.Big, b.Big, b.Big),
        ["rnn readout: weights too short"] = (ops, b) => ops.Readout(b.Big, b.Short, b.Big, b.Big, 1, 4, 4, 4, pooled: false),
        ["rnn readout: zero classes"] = (ops, b) => ops.Readout(b.Big, b.Big, b.Big, b.Big, 1, 4, 4, 0, pooled: true),
        ["rnn readout: negative batch"] = (ops, b) => ops.Readout(b.Big, b.Big, b.Big, b.Big, -1, 4, 4, 4, pooled: true),
        ["rnn readout: state past 32-bit indexing"] = (ops, b) => ops.Readout(b.Big, b.Big, b.Big, b.Big, 2, 65536, 65536, 1, pooled: true),
    };

    private Exception Refusal(string call, TransformerOps transformer, RnnOps rnn)
    {
        Own(transformer);
        Own(rnn);
        using var buffers = new Buffers(_emulator);
        return Assert.ThrowsAny<Exception>(() =>
        {
            if (BadTransformerCalls.TryGetValue(call, out TransformerCall? transformerCall))
            {
                transformerCall(transformer, buffers);
            }
            else
            {
                BadRnnCalls[call](rnn, buffers);
            }
        });
    }

    private T Own<T>(T disposable)
        where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary>A buffer too short for every call above (11 elements), one long enough (100), and packed weights.</summary>
    private sealed class Buffers(Device device) : IDisposable
    {
        private readonly List<PackedWeight> _weights = [];

        public DeviceBuffer<float> Short { get; } = device.Allocate<float>(11);

        public DeviceBuffer<float> Big { get; } = device.Allocate<float>(100);

        public PackedWeight Weight(TransformerOps ops, int n, int k)
        {
            PackedWeight weight = ops.PackWeight(new float[n * k], n, k);
            _weights.Add(weight);
            return weight;
        }

        public void Dispose()
        {
            _weights.ForEach(w => w.Dispose());
            Short.Dispose();
            Big.Dispose();
        }
    }
}
