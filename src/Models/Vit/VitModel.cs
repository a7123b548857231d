using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Models.Vit;

/// <summary>
/// A ViT whose weights live on one device, uploaded once. The forward pass runs through the
/// device's <see cref="TransformerOps"/> with the patch tokens of every image of the batch as
/// the rows of one GEMM per linear layer, so each weight fetched serves B·T rows. The weights of
/// the linear layers (and of the patch embedding, a linear layer on each patch) are made once, at
/// load, into the form the device's GEMM reads (<see cref="TransformerOps.PackWeight"/>: packed
/// panels on cpu), not on every call. Activation
/// buffers are allocated for a batch size and reused until the batch size changes.
/// </summary>
public sealed class VitModel : IDisposable
{
    private readonly TransformerOps _ops;
    private readonly bool _ownsOps;
    private readonly bool _fusedAttention;
    private readonly List<DeviceBuffer<float>> _weightBuffers = [];
    private readonly List<PackedWeight> _packedWeights = [];
    private readonly DeviceBuffer<float> _patchBias, _positions, _normWeight, _normBias, _headBias;
    private readonly PackedWeight _patchWeight, _headWeight;
    private readonly DeviceBuffer<float>? _classToken;

    // One entry per layer; with ShareLayers every entry is the same block.
    private readonly Block[] _layers;
    private Activations? _activations;
    private bool _disposed;

    private VitModel(VitConfig config, VitWeights weights, Device device, TransformerOps? ops, GemmVersion? gemm, bool fusedAttention, Precision precision)
    {
        Config = config.Validate();
        weights.Validate(config);
        Device = device;
        _fusedAttention = fusedAttention;
        _ops = ops ?? TransformerOps.For(device, gemm, precision);
        _ownsOps = ops is null;
        if (_ops.Device != device)
        {
            throw new ArgumentException($"the ops run on {_ops.Device.Info.Id}, the model on {device.Info.Id}", nameof(ops));
        }

        try
        {
            DeviceBuffer<float> Up(string name)
            {
                DeviceBuffer<float> buffer = device.Upload<float>(weights[name].Data);
                _weightBuffers.Add(buffer);
                return buffer;
            }

            // A linear layer's weight [out, in], packed for the GEMM.
            PackedWeight Pack(string name, int outputs, int inputs)
            {
                PackedWeight packed = _ops.PackWeight(weights[name].Data, outputs, inputs);
                _packedWeights.Add(packed);
                return packed;
            }

            int d = config.Width;
            _patchWeight = Pack("patch_embed.proj.weight", d, config.Channels * config.PatchSize * config.PatchSize);
            _patchBias = Up("patch_embed.proj.bias");
            _classToken = config.ClassToken ? Up("cls_token") : null;
            _positions = Up("pos_embed");
            var stored = new Block[config.StoredBlocks];
            for (int i = 0; i < stored.Length; i++)
            {
                string b = $"blocks.{i}.";
                stored[i] = new Block(
                    Up(b + "norm1.weight"), Up(b + "norm1.bias"), Pack(b + "attn.qkv.weight", 3 * d, d), Up(b + "attn.qkv.bias"),
                    Pack(b + "attn.proj.weight", d, d), Up(b + "attn.proj.bias"), Up(b + "norm2.weight"), Up(b + "norm2.bias"),
                    Pack(b + "mlp.fc1.weight", config.MlpWidth, d), Up(b + "mlp.fc1.bias"),
                    Pack(b + "mlp.fc2.weight", d, config.MlpWidth), Up(b + "mlp.fc2.bias"));
            }

            _layers = [.. Enumerable.Range(0, config.Depth).Select(i => stored[config.ShareLayers ? 0 : i])];
            string norm = VitWeights.FinalNormName(config);
            _normWeight = Up(norm + ".weight");
            _normBias = Up(norm + ".bias");
            _headWeight = Pack("head.weight", config.Classes, d);
            _headBias = Up("head.bias");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Validates the config and the weights, and uploads the weights to the device.</summary>
    /// <param name="gemm">One GEMM kernel for every layer (for comparing kernels); null: the ops' choice for the precision.</param>
    /// <param name="ops">The ops to run (owned by the caller; their precision is the model's); by default <see cref="TransformerOps.For"/> with <paramref name="gemm"/> and <paramref name="precision"/>, owned by the model.</param>
    /// <param name="precision">The GEMMs' and attention's arithmetic; the weights are converted to it once, here.</param>
    public static VitModel Load(
        Device device, VitConfig config, VitWeights weights, GemmVersion? gemm = null,
        bool fusedAttention = true, TransformerOps? ops = null, Precision precision = Precision.Fp32) =>
        new(config, weights, device, ops, gemm, fusedAttention, precision);

    /// <summary>The arithmetic of the GEMMs and attention.</summary>
    public Precision Precision => _ops.Precision;

    public VitConfig Config { get; }

    public Device Device { get; }

    /// <summary>
    /// Bytes of the weights the model holds in device memory (blocks once when layers are shared):
    /// 4 per parameter, but 2 per GEMM weight at bf16 and fp16, and the cpu backend's packing may pad
    /// a GEMM weight past its n·k values.
    /// </summary>
    public long WeightBytes => _weightBuffers.Sum(b => b.Bytes) + _packedWeights.Sum(w => w.Bytes);

    /// <summary>Bytes of activations held now (zero before the first forward pass).</summary>
    public long ActivationBytes => _activations?.Bytes ?? 0;

    /// <summary>Bytes of activations a forward pass over <paramref name="batch"/> images needs on the device.</summary>
    public static long ActivationBytesFor(VitConfig config, int batch) => Activations.Lengths(config, batch).Sum() * sizeof(float);

    /// <summary>Logits [batch, classes] for images [batch, channels, size, size] in host memory.</summary>
    public float[] Forward(ReadOnlySpan<float> images, int batch)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        long expected = (long)batch * Config.Channels * Config.ImageSize * Config.ImageSize;
        if (images.Length != expected)
        {
            throw new ArgumentException(
                $"images hold {images.Length} values; {batch} × [{Config.Channels}, {Config.ImageSize}, {Config.ImageSize}] is {expected}",
                nameof(images));
        }

        // Device copies for this call only: the activations hold what every forward pass needs, not
        // what only this convenience does (the stream and the benchmarks pass device buffers).
        using DeviceBuffer<float> deviceImages = Device.Upload(images);
        using DeviceBuffer<float> deviceLogits = Device.Allocate<float>((long)batch * Config.Classes);
        Forward(deviceImages, deviceLogits, batch);
        return deviceLogits.ToArray();
    }

    /// <summary>
    /// Queues the forward pass: images [batch, channels, size, size] on this device → logits
    /// [batch, classes]. Asynchronous on GPUs; read the logits after the stream. Cancelled, it
    /// stops before the next block (<see cref="OperationCanceledException"/>), which on the cpu,
    /// where each op runs as it is queued, ends a long pass within a block's time.
    /// </summary>
    public void Forward(DeviceView<float> images, DeviceView<float> logits, int batch, DeviceStream? stream = null, CancellationToken cancel = default)
    {
        ThrowIfDisposed();
        VitConfig c = Config;
        Activations a = ActivationsFor(batch);
        long pixels = (long)batch * c.Channels * c.ImageSize * c.ImageSize, classes = (long)batch * c.Classes;
        if (images.Length < pixels || logits.Length < classes)
        {
            throw new ArgumentException(
                $"batch {batch} needs {pixels} image values and {classes} logits; got {images.Length} and {logits.Length}");
        }

        int d = c.Width, t = c.Tokens, rows = batch * t;
        _ops.PatchEmbed(images, _patchWeight, _patchBias, a.X, batch, c.Channels, c.ImageSize, c.PatchSize, d, c.Prefix, stream);
        _ops.ClassTokenAndPositions(a.X, _classToken?.View(), _positions, batch, t, d, stream);
        foreach (Block block in _layers)
        {
            cancel.ThrowIfCancellationRequested();

            // x += proj(attention(qkv(LN1(x)))): one qkv GEMM over all tokens of all images.
            _ops.LayerNorm(a.X, block.Norm1Weight, block.Norm1Bias, a.Normed, rows, d, c.LayerNormEps, stream);
            _ops.Gemm(a.Normed, block.QkvWeight, block.QkvBias, null, a.Qkv, rows, Activation.None, stream);
            _ops.Attention(a.Qkv, a.Attended, batch, t, c.Heads, c.HeadSize, _fusedAttention, stream);
            _ops.Gemm(a.Attended, block.ProjWeight, block.ProjBias, a.X, a.X, rows, Activation.None, stream);

            // x += fc2(GELU(fc1(LN2(x)))), GELU and residual in the GEMMs' epilogues.
            _ops.LayerNorm(a.X, block.Norm2Weight, block.Norm2Bias, a.Normed, rows, d, c.LayerNormEps, stream);
            _ops.Gemm(a.Normed, block.Fc1Weight, block.Fc1Bias, null, a.Hidden, rows, Activation.Gelu, stream);
            _ops.Gemm(a.Hidden, block.Fc2Weight, block.Fc2Bias, a.X, a.X, rows, Activation.None, stream);
        }

        // LayerNorm works per row, so norm-then-take-the-class-token equals take-then-norm; timm's
        // mean pooling normalises after the mean (fc_norm). Either way only batch rows are normalised.
        _ops.Pool(a.X, a.Pooled, batch, t, d, c.Pooling, c.Prefix, stream);
        _ops.LayerNorm(a.Pooled, _normWeight, _normBias, a.PooledNormed, batch, d, c.LayerNormEps, stream);
        _ops.Gemm(a.PooledNormed, _headWeight, _headBias, null, logits, batch, Activation.None, stream);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _activations?.Dispose();
        _activations = null;
        foreach (DeviceBuffer<float> buffer in _weightBuffers)
        {
            buffer.Dispose();
        }

        _weightBuffers.Clear();
        foreach (PackedWeight packed in _packedWeights)
        {
            packed.Dispose();
        }

        _packedWeights.Clear();
        if (_ownsOps)
        {
            _ops.Dispose();
        }
    }

    private Activations ActivationsFor(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        long rows = (long)batch * Config.Tokens;
        if (rows * Math.Max(3L * Config.Width, Config.MlpWidth) > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch {batch} is too large for 32-bit indexing of the activations");
        }

        // Kept for the largest batch so far: a stream's short last micro-batch reuses them.
        if (_activations is null || _activations.Batch < batch)
        {
            _activations?.Dispose();
            _activations = null;
            _activations = new Activations(Device, Config, batch);
        }

        return _activations;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private sealed record Block(
        DeviceBuffer<float> Norm1Weight, DeviceBuffer<float> Norm1Bias, PackedWeight QkvWeight, DeviceBuffer<float> QkvBias,
        PackedWeight ProjWeight, DeviceBuffer<float> ProjBias, DeviceBuffer<float> Norm2Weight, DeviceBuffer<float> Norm2Bias,
        PackedWeight Fc1Weight, DeviceBuffer<float> Fc1Bias, PackedWeight Fc2Weight, DeviceBuffer<float> Fc2Bias);

    /// <summary>The buffers of one batch size; every layer writes into the same ones.</summary>
    private sealed class Activations : IDisposable
    {
        private readonly List<DeviceBuffer<float>> _all = [];

        public Activations(Device device, VitConfig c, int batch)
        {
            Batch = batch;
            try
            {
                DeviceBuffer<float> Alloc(long length)
                {
                    DeviceBuffer<float> buffer = device.Allocate<float>(length);
                    _all.Add(buffer);
                    return buffer;
                }

                long[] lengths = Lengths(c, batch);
                X = Alloc(lengths[0]);
                Normed = Alloc(lengths[1]);
                Qkv = Alloc(lengths[2]);
                Attended = Alloc(lengths[3]);
                Hidden = Alloc(lengths[4]);
                Pooled = Alloc(lengths[5]);
                PooledNormed = Alloc(lengths[6]);
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>Elements of X, Normed, Qkv, Attended, Hidden, Pooled and PooledNormed, in that order.</summary>
        public static long[] Lengths(VitConfig c, int batch)
        {
            long rows = (long)batch * c.Tokens;
            return
            [
                rows * c.Width, rows * c.Width, rows * 3 * c.Width, rows * c.Width, rows * c.MlpWidth,
                (long)batch * c.Width, (long)batch * c.Width,
            ];
        }

        public int Batch { get; }

        public DeviceBuffer<float> X { get; } = null!;
        public DeviceBuffer<float> Normed { get; } = null!;
        public DeviceBuffer<float> Qkv { get; } = null!;
        public DeviceBuffer<float> Attended { get; } = null!;
        public DeviceBuffer<float> Hidden { get; } = null!;
        public DeviceBuffer<float> Pooled { get; } = null!;
        public DeviceBuffer<float> PooledNormed { get; } = null!;

        public long Bytes => _all.Sum(b => b.Bytes);

        public void Dispose() => _all.ForEach(b => b.Dispose());
    }
}
