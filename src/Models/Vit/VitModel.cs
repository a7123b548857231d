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
/// <remarks>
/// On a device with graphs (<see cref="DeviceCapabilities.HasGraphs"/>: CUDA) the device-buffer
/// forward pass is captured once per (batch, images view, logits view, stream) and replayed with
/// one launch instead of some 85 (<see cref="UsesGraphs"/>; docs/runtime.md, "Graphs").
/// </remarks>
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

    /// <summary>The forward passes seen on the device-buffer path, most recently used last; at most <see cref="MaxGraphs"/>.</summary>
    private readonly List<GraphEntry> _graphs = [];
    private readonly bool _graphsAsked;
    private int _captures, _replays;

    // The ops' ScratchReplacements when the graphs held were made.
    private int _scratchReplacementsSeen;
    private string? _graphFallbackReason;
    private bool _disposed;

    private VitModel(
        VitConfig config, VitWeights weights, Device device, TransformerOps? ops, GemmVersion? gemm, bool fusedAttention, Precision precision, bool graphs)
    {
        Config = config.Validate();
        weights.Validate(config);
        Device = device;
        _fusedAttention = fusedAttention;
        _graphsAsked = graphs;
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
    /// <param name="graphs">
    /// Whether the device-buffer forward pass is captured as a graph and replayed, where the device
    /// has graphs and the model owns its ops (<see cref="UsesGraphs"/>); false: plain launches, to compare.
    /// </param>
    public static VitModel Load(
        Device device, VitConfig config, VitWeights weights, GemmVersion? gemm = null,
        bool fusedAttention = true, TransformerOps? ops = null, Precision precision = Precision.Fp32, bool graphs = true) =>
        new(config, weights, device, ops, gemm, fusedAttention, precision, graphs);

    /// <summary>Forward passes (distinct batch, buffers and stream) whose graphs are kept; the least recently used goes first.</summary>
    public const int MaxGraphs = 4;

    /// <summary>
    /// Whether <see cref="Forward(DeviceView{float}, DeviceView{float}, int, DeviceStream?, CancellationToken)"/>
    /// captures and replays graphs: asked at load (on by default), the device has graphs (cuda), and
    /// the ops are the model's own. Ops passed in are not: another user of theirs could regrow
    /// their scratch memory, which a graph would go on writing.
    /// </summary>
    public bool UsesGraphs => _graphsAsked && _ownsOps && Device.Info.Capabilities.HasGraphs;

    /// <summary>Graphs captured, passes replayed from them, graphs held now, and why the last capture fell back to plain launches (null if none did).</summary>
    public VitGraphStatistics GraphStatistics =>
        new(_captures, _replays, _graphs.Count(e => e.Graph is { IsGraph: true }), _graphFallbackReason);

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
        // Fresh buffers each call, so a graph of them could never be replayed: plain launches.
        using DeviceBuffer<float> deviceImages = Device.Upload(images);
        using DeviceBuffer<float> deviceLogits = Device.Allocate<float>((long)batch * Config.Classes);
        Forward(deviceImages, deviceLogits, batch, null, default, graphs: false);
        return deviceLogits.ToArray();
    }

    /// <summary>
    /// Queues the forward pass: images [batch, channels, size, size] on this device → logits
    /// [batch, classes]. Asynchronous on GPUs; read the logits after the stream. Cancelled, it
    /// stops before the next block (<see cref="OperationCanceledException"/>), which on the cpu,
    /// where each op runs as it is queued, ends a long pass within a block's time.
    /// </summary>
    /// <remarks>
    /// With graphs (<see cref="UsesGraphs"/>), the first pass for a (batch, images view, logits view,
    /// stream) runs plainly: it allocates what is allocated lazily (the activations, the ops'
    /// scratch and placeholder buffers) and builds every kernel, so that nothing inside a capture
    /// allocates or synchronizes. The second is captured and launched, and later ones replay the
    /// graph: the same kernels on the same buffers, reading whatever the images hold by then. A
    /// replay cannot stop mid-pass, so the token is checked once, before it; on a GPU a pass takes
    /// milliseconds. Where a capture fails, that pass and its later ones run plainly
    /// (<see cref="GraphStatistics"/> says why).
    /// </remarks>
    public void Forward(DeviceView<float> images, DeviceView<float> logits, int batch, DeviceStream? stream = null, CancellationToken cancel = default) =>
        Forward(images, logits, batch, stream, cancel, UsesGraphs);

    private void Forward(DeviceView<float> images, DeviceView<float> logits, int batch, DeviceStream? stream, CancellationToken cancel, bool graphs)
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

        if (!graphs)
        {
            Queue(images, logits, batch, a, stream, cancel);
            return;
        }

        DeviceStream target = stream ?? Device.DefaultStream;
        cancel.ThrowIfCancellationRequested();
        var key = new GraphKey(images, logits, batch, target);
        GraphEntry? entry = FindGraph(key);
        if (entry is null)
        {
            // Warm pass: everything the capture will use comes to exist here.
            Queue(images, logits, batch, a, target, cancel);
            if (_ops.ScratchReplacements != _scratchReplacementsSeen)
            {
                // The ops' scratch need not grow with the batch (split-K partial sums are largest at
                // small batches), so this warm pass may have replaced a buffer that graphs of other
                // batches point at: drop those.
                _scratchReplacementsSeen = _ops.ScratchReplacements;
                ClearGraphs();
            }

            RememberGraph(new GraphEntry(key));
            return;
        }

        if (entry.Graph is null)
        {
            // The queued code closes over this call's views and activations, which the key and
            // ActivationsFor keep valid for as long as the graph is held; no token inside.
            entry.Graph = Device.Capture(target, s => Queue(images, logits, batch, a, s, CancellationToken.None));
            if (entry.Graph.IsGraph)
            {
                _captures++;
            }
            else
            {
                _graphFallbackReason = entry.Graph.FallbackReason;
            }
        }

        entry.Graph.Launch(target);
        if (entry.Graph.IsGraph)
        {
            _replays++;
        }
    }

    /// <summary>Queues the forward pass's ops; cancelled, it stops before the next block.</summary>
    private void Queue(DeviceView<float> images, DeviceView<float> logits, int batch, Activations a, DeviceStream? stream, CancellationToken cancel)
    {
        VitConfig c = Config;
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
        ClearGraphs();
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
            // Every graph points at the old activations; work queued on them finishes before they go
            // (freeing device memory is not promised to wait for it).
            ClearGraphs();
            if (_activations is not null)
            {
                Device.Synchronize();
            }

            _activations?.Dispose();
            _activations = null;
            _activations = new Activations(Device, Config, batch);
        }

        return _activations;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>The entry for <paramref name="key"/>, made most recently used; entries whose buffers were disposed go first.</summary>
    private GraphEntry? FindGraph(GraphKey key)
    {
        foreach (GraphEntry stale in _graphs.Where(e => e.Key.Images.Buffer.IsDisposed || e.Key.Logits.Buffer.IsDisposed).ToList())
        {
            _graphs.Remove(stale);
            stale.Graph?.Dispose();
        }

        GraphEntry? found = _graphs.Find(e => e.Key.Matches(key));
        if (found is not null)
        {
            _graphs.Remove(found);
            _graphs.Add(found);
        }

        return found;
    }

    private void RememberGraph(GraphEntry entry)
    {
        if (_graphs.Count == MaxGraphs)
        {
            _graphs[0].Graph?.Dispose();
            _graphs.RemoveAt(0);
        }

        _graphs.Add(entry);
    }

    private void ClearGraphs()
    {
        foreach (GraphEntry entry in _graphs)
        {
            entry.Graph?.Dispose();
        }

        _graphs.Clear();
    }

    /// <summary>What a captured pass is bound to: the batch, the very buffers and ranges, and the stream (by identity).</summary>
    private readonly record struct GraphKey(DeviceView<float> Images, DeviceView<float> Logits, int Batch, DeviceStream Stream)
    {
        public bool Matches(GraphKey other) =>
            Batch == other.Batch && ReferenceEquals(Stream, other.Stream) && Same(Images, other.Images) && Same(Logits, other.Logits);

        private static bool Same(DeviceView<float> a, DeviceView<float> b) =>
            ReferenceEquals(a.Buffer, b.Buffer) && a.Offset == b.Offset && a.Length == b.Length;
    }

    /// <summary>A pass seen once (no graph yet: the next is captured), or captured.</summary>
    private sealed class GraphEntry(GraphKey key)
    {
        public GraphKey Key { get; } = key;

        public DeviceGraph? Graph { get; set; }
    }

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

/// <summary>What a <see cref="VitModel"/>'s graphs did.</summary>
/// <param name="Captures">Forward passes captured as graphs.</param>
/// <param name="Replays">Forward passes run by launching a graph (the first launch after a capture included).</param>
/// <param name="Graphs">Graphs held now.</param>
/// <param name="FallbackReason">Why the last capture that failed did (the pass runs plainly instead); null if none failed.</param>
public sealed record VitGraphStatistics(int Captures, int Replays, int Graphs, string? FallbackReason);
