namespace GpuViT.Kernels.Library;

/// <summary>
/// Fused multi-head self-attention on tensor cores, FlashAttention-2's scheme, over the same qkv
/// rows and into the same output as <see cref="Attention.AttentionFused"/> (qkv [batch, tokens,
/// 3·dim], output [batch, tokens, dim], dim = heads · headSize), with the products in TF32, BF16 or
/// FP16 and everything else (scores, softmax statistics, sums) in fp32. One kernel per precision
/// and head size (64 or 128): register arrays need constant sizes, and a 128-wide layout used for
/// 64 would hold twice the accumulator registers it needs. Each kernel only declares its shared
/// tiles and register arrays and calls one body, <see cref="AttentionTf32"/> or
/// <see cref="Attention16"/>, with the head size (and FP16 or BF16) as literals; the bodies' device
/// functions work on 64 head columns at a time, called for both halves of a head of 128.
/// </summary>
/// <remarks>
/// Groups of <see cref="Threads"/> threads (four warps, 1D) over (ceil(tokens / <see cref="QueryBlock"/>),
/// heads, batch). Each warp owns 16 query rows and holds their Q fragments (loaded once), the
/// score tile S (16 × <see cref="KeyTile"/>) and the output O (16 × headSize) in registers; the
/// group stages each tile of K and V in shared memory (zeros past tokens), already in the form the
/// B fragments read. Per tile: S = Q·Kᵀ on MMA, scaled; masked keys −∞; online softmax per row
/// (the row's max over the four lanes that share it, by Warp.ShuffleXor; O and the running sum
/// rescaled by exp(oldMax − newMax)); P made from the S accumulators straight into A fragments;
/// O += P·V on MMA. At the end O / rowsum. CUDA runs the MMAs on tensor cores (sm_80 and later);
/// OpenCL and the emulator compute them in software, for testing.
/// </remarks>
public static class TensorCoreAttention
{
    /// <summary>Query rows per group: four warps of 16.</summary>
    public const int QueryBlock = 64;

    /// <summary>Keys per staged K/V tile: four 8-key MMA tiles of S per warp.</summary>
    public const int KeyTile = 32;

    /// <summary>Threads per group: four warps.</summary>
    public const int Threads = 128;

    /// <summary>Head columns one set of register arrays holds (Q fragments, O tiles): a head of 64, or half a head of 128.</summary>
    private const int Columns = 64;

    /// <summary>
    /// TF32 tiles hold floats, a row per key, this many words longer than the head: 8 keys × 4
    /// columns (S's B fragments) and 4 key pairs × 8 columns (P·V's) fall in 32 different banks.
    /// </summary>
    private const int FloatPad = 4;

    /// <summary>16-bit key tile: a row per key of headSize / 2 words (column pairs) and 4 more, for the same reason.</summary>
    private const int KeyWordPad = 4;

    /// <summary>16-bit value tile, transposed: a row per head column of KeyTile / 2 words (key pairs) and 4 more (20 words: 8 rows × 4 words in 32 banks).</summary>
    private const int ValueWordPitch = KeyTile / 2 + 4;

    /// <summary>TF32 products, head size 64.</summary>
    [Kernel]
    public static void AttentionMmaTf32Head64(KernelThread thread, ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, float scale)
    {
        const int HeadSize = 64;
        var keys = Group.Shared<float>(KeyTile * (HeadSize + FloatPad));
        var values = Group.Shared<float>(KeyTile * (HeadSize + FloatPad));
        Span<float> query = stackalloc float[Columns / 2];
        Span<float> outputTile = stackalloc float[Columns / 2];
        Span<float> scores = stackalloc float[KeyTile / 2];
        Span<float> b = stackalloc float[2];
        Span<float> stats = stackalloc float[6];
        // One 64-column half: the body never reaches its high-half arrays, so the low ones stand in.
        AttentionTf32(
            keys, values, query, query, outputTile, outputTile, scores, b, stats,
            qkv, output, tokens, heads, scale, HeadSize, thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z);
    }

    /// <summary>TF32 products, head size 128: the head as two 64-column halves.</summary>
    [Kernel]
    public static void AttentionMmaTf32Head128(KernelThread thread, ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, float scale)
    {
        const int HeadSize = 128;
        var keys = Group.Shared<float>(KeyTile * (HeadSize + FloatPad));
        var values = Group.Shared<float>(KeyTile * (HeadSize + FloatPad));
        Span<float> queryLow = stackalloc float[Columns / 2];
        Span<float> queryHigh = stackalloc float[Columns / 2];
        Span<float> outputLow = stackalloc float[Columns / 2];
        Span<float> outputHigh = stackalloc float[Columns / 2];
        Span<float> scores = stackalloc float[KeyTile / 2];
        Span<float> b = stackalloc float[2];
        Span<float> stats = stackalloc float[6];
        AttentionTf32(
            keys, values, queryLow, queryHigh, outputLow, outputHigh, scores, b, stats,
            qkv, output, tokens, heads, scale, HeadSize, thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z);
    }

    /// <summary>BF16 products, head size 64.</summary>
    [Kernel]
    public static void AttentionMmaBf16Head64(KernelThread thread, ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, float scale)
    {
        const int HeadSize = 64;
        var keys = Group.Shared<uint>(KeyTile * (HeadSize / 2 + KeyWordPad));
        var values = Group.Shared<uint>(HeadSize * ValueWordPitch);
        Span<uint> query = stackalloc uint[Columns / 4];
        Span<float> outputTile = stackalloc float[Columns / 2];
        Span<float> scores = stackalloc float[KeyTile / 2];
        Span<uint> probabilities = stackalloc uint[KeyTile / 4];
        Span<uint> b = stackalloc uint[2];
        Span<float> stats = stackalloc float[6];
        // One 64-column half: the body never reaches its high-half arrays, so the low ones stand in.
        Attention16(
            keys, values, query, query, outputTile, outputTile, scores, probabilities, b, stats,
            qkv, output, tokens, heads, scale, HeadSize, false, thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z);
    }

    /// <summary>BF16 products, head size 128: the head as two 64-column halves.</summary>
    [Kernel]
    public static void AttentionMmaBf16Head128(KernelThread thread, ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, float scale)
    {
        const int HeadSize = 128;
        var keys = Group.Shared<uint>(KeyTile * (HeadSize / 2 + KeyWordPad));
        var values = Group.Shared<uint>(HeadSize * ValueWordPitch);
        Span<uint> queryLow = stackalloc uint[Columns / 4];
        Span<uint> queryHigh = stackalloc uint[Columns / 4];
        Span<float> outputLow = stackalloc float[Columns / 2];
        Span<float> outputHigh = stackalloc float[Columns / 2];
        Span<float> scores = stackalloc float[KeyTile / 2];
        Span<uint> probabilities = stackalloc uint[KeyTile / 4];
        Span<uint> b = stackalloc uint[2];
        Span<float> stats = stackalloc float[6];
        Attention16(
            keys, values, queryLow, queryHigh, outputLow, outputHigh, scores, probabilities, b, stats,
            qkv, output, tokens, heads, scale, HeadSize, false, thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z);
    }

    /// <summary>FP16 products, head size 64.</summary>
    [Kernel]
    public static void AttentionMmaF16Head64(KernelThread thread, ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, float scale)
    {
        const int HeadSize = 64;
        var keys = Group.Shared<uint>(KeyTile * (HeadSize / 2 + KeyWordPad));
        var values = Group.Shared<uint>(HeadSize * ValueWordPitch);
        Span<uint> query = stackalloc uint[Columns / 4];
        Span<float> outputTile = stackalloc float[Columns / 2];
        Span<float> scores = stackalloc float[KeyTile / 2];
        Span<uint> probabilities = stackalloc uint[KeyTile / 4];
        Span<uint> b = stackalloc uint[2];
        Span<float> stats = stackalloc float[6];
        // One 64-column half: the body never reaches its high-half arrays, so the low ones stand in.
        Attention16(
            keys, values, query, query, outputTile, outputTile, scores, probabilities, b, stats,
            qkv, output, tokens, heads, scale, HeadSize, true, thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z);
    }

    /// <summary>FP16 products, head size 128: the head as two 64-column halves.</summary>
    [Kernel]
    public static void AttentionMmaF16Head128(KernelThread thread, ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, float scale)
    {
        const int HeadSize = 128;
        var keys = Group.Shared<uint>(KeyTile * (HeadSize / 2 + KeyWordPad));
        var values = Group.Shared<uint>(HeadSize * ValueWordPitch);
        Span<uint> queryLow = stackalloc uint[Columns / 4];
        Span<uint> queryHigh = stackalloc uint[Columns / 4];
        Span<float> outputLow = stackalloc float[Columns / 2];
        Span<float> outputHigh = stackalloc float[Columns / 2];
        Span<float> scores = stackalloc float[KeyTile / 2];
        Span<uint> probabilities = stackalloc uint[KeyTile / 4];
        Span<uint> b = stackalloc uint[2];
        Span<float> stats = stackalloc float[6];
        Attention16(
            keys, values, queryLow, queryHigh, outputLow, outputHigh, scores, probabilities, b, stats,
            qkv, output, tokens, heads, scale, HeadSize, true, thread.Local.X, thread.Group.X, thread.Group.Y, thread.Group.Z);
    }

    /// <summary>
    /// The TF32 kernels' body, for head <paramref name="head"/> of image <paramref name="image"/>,
    /// query block <paramref name="queryBlock"/>, thread <paramref name="local"/> of the group:
    /// the kernels own the shared tiles (a row per key, headSize + <see cref="FloatPad"/> floats)
    /// and the register arrays, whose sizes must be constants there, and pass
    /// <paramref name="headSize"/> as a literal, so after the C compiler inlines this the
    /// high-half calls of a head of 64 are gone and every pitch is a constant.
    /// </summary>
    [DeviceFunction]
    public static void AttentionTf32(
        SharedArray<float> keys, SharedArray<float> values, Span<float> queryLow, Span<float> queryHigh, Span<float> outputLow, Span<float> outputHigh,
        Span<float> scores, Span<float> b, Span<float> stats,
        ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, float scale, int headSize, int local, int queryBlock, int head, int image)
    {
        bool twoHalves = headSize > Columns;
        int pitch = headSize + FloatPad;
        int inGroup = local % 4;
        int row0 = FirstRow(queryBlock, local);
        int dim = heads * headSize;
        int rowStride = 3 * dim;
        int headBase = image * tokens * rowStride + head * headSize;
        int query0 = headBase + row0 * rowStride;
        LoadQueryTf32(queryLow, qkv, query0, query0 + 8 * rowStride, row0 < tokens, row0 + 8 < tokens, inGroup);
        if (twoHalves)
        {
            LoadQueryTf32(queryHigh, qkv, query0 + Columns, query0 + 8 * rowStride + Columns, row0 < tokens, row0 + 8 < tokens, inGroup);
        }

        StartStatistics(stats);
        for (int firstKey = 0; firstKey < tokens; firstKey += KeyTile)
        {
            // Everyone is done with the previous tile before it is overwritten.
            Group.Barrier();
            int keyRows = KernelMath.Min(KeyTile, tokens - firstKey);
            int keyAt = headBase + firstKey * rowStride + dim;
            StageFloatRows(keys, qkv, keyAt, keyRows, rowStride, pitch, headSize, local);
            StageFloatRows(values, qkv, keyAt + dim, keyRows, rowStride, pitch, headSize, local);
            Group.Barrier();

            ClearScores(scores);
            ScoresTf32(scores, queryLow, b, keys, pitch, 0, local);
            if (twoHalves)
            {
                ScoresTf32(scores, queryHigh, b, keys, pitch, Columns, local);
            }

            OnlineSoftmaxTile(scores, stats, firstKey, tokens, scale, inGroup);
            RescaleOutputs(outputLow, outputHigh, stats, twoHalves);
            ProbabilitiesTf32(scores);
            ValuesTf32(outputLow, scores, b, values, pitch, 0, local);
            if (twoHalves)
            {
                ValuesTf32(outputHigh, scores, b, values, pitch, Columns, local);
            }
        }

        FinishAndStore(outputLow, outputHigh, stats, output, tokens, dim, headSize, row0, head, image, inGroup, twoHalves);
    }

    /// <summary>
    /// The BF16 and FP16 kernels' body, as <see cref="AttentionTf32"/>: keys staged as column
    /// pairs (a row per key, headSize / 2 + <see cref="KeyWordPad"/> words), values transposed as
    /// key pairs (a row per head column, <see cref="ValueWordPitch"/> words); <paramref name="fp16"/>
    /// is a literal too.
    /// </summary>
    [DeviceFunction]
    public static void Attention16(
        SharedArray<uint> keys, SharedArray<uint> values, Span<uint> queryLow, Span<uint> queryHigh, Span<float> outputLow, Span<float> outputHigh,
        Span<float> scores, Span<uint> probabilities, Span<uint> b, Span<float> stats,
        ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, float scale, int headSize, bool fp16, int local, int queryBlock, int head, int image)
    {
        bool twoHalves = headSize > Columns;
        int keyPitch = headSize / 2 + KeyWordPad;
        int inGroup = local % 4;
        int row0 = FirstRow(queryBlock, local);
        int dim = heads * headSize;
        int rowStride = 3 * dim;
        int headBase = image * tokens * rowStride + head * headSize;
        int query0 = headBase + row0 * rowStride;
        LoadQuery16(queryLow, qkv, query0, query0 + 8 * rowStride, row0 < tokens, row0 + 8 < tokens, inGroup, fp16);
        if (twoHalves)
        {
            LoadQuery16(queryHigh, qkv, query0 + Columns, query0 + 8 * rowStride + Columns, row0 < tokens, row0 + 8 < tokens, inGroup, fp16);
        }

        StartStatistics(stats);
        for (int firstKey = 0; firstKey < tokens; firstKey += KeyTile)
        {
            Group.Barrier();
            int keyRows = KernelMath.Min(KeyTile, tokens - firstKey);
            int keyAt = headBase + firstKey * rowStride + dim;
            StageKeys16(keys, qkv, keyAt, keyRows, rowStride, keyPitch, headSize, local, fp16);
            StageValues16(values, qkv, keyAt + dim, keyRows, rowStride, headSize, local, fp16);
            Group.Barrier();

            ClearScores(scores);
            Scores16(scores, queryLow, b, keys, keyPitch, 0, local, fp16);
            if (twoHalves)
            {
                Scores16(scores, queryHigh, b, keys, keyPitch, Columns, local, fp16);
            }

            OnlineSoftmaxTile(scores, stats, firstKey, tokens, scale, inGroup);
            RescaleOutputs(outputLow, outputHigh, stats, twoHalves);
            Probabilities16(probabilities, scores, fp16);
            Values16(outputLow, probabilities, b, values, 0, local, fp16);
            if (twoHalves)
            {
                Values16(outputHigh, probabilities, b, values, Columns, local, fp16);
            }
        }

        FinishAndStore(outputLow, outputHigh, stats, output, tokens, dim, headSize, row0, head, image, inGroup, twoHalves);
    }

    /// <summary>This lane's first query row (groupID of its warp's 16); its second is 8 further.</summary>
    [DeviceFunction]
    public static int FirstRow(int queryBlock, int local) => queryBlock * QueryBlock + local / 4 % 8 + local / 32 * 16;

    /// <summary>Both halves of O (the high one only for a head of 128) times this tile's corrections.</summary>
    [DeviceFunction]
    public static void RescaleOutputs(Span<float> outputLow, Span<float> outputHigh, Span<float> stats, bool twoHalves)
    {
        RescaleOutput(outputLow, stats);
        if (twoHalves)
        {
            RescaleOutput(outputHigh, stats);
        }
    }

    /// <summary>The row sums over the four lanes of a row, then O / rowsum of both halves into output.</summary>
    [DeviceFunction]
    public static void FinishAndStore(
        Span<float> outputLow, Span<float> outputHigh, Span<float> stats, ReadWriteView<float> output,
        int tokens, int dim, int headSize, int row0, int head, int image, int inGroup, bool twoHalves)
    {
        FinishRowSums(stats);
        int outputAt = (image * tokens + row0) * dim + head * headSize;
        StoreRows(outputLow, stats, output, outputAt, outputAt + 8 * dim, row0 < tokens, row0 + 8 < tokens, inGroup);
        if (twoHalves)
        {
            StoreRows(outputHigh, stats, output, outputAt + Columns, outputAt + 8 * dim + Columns, row0 < tokens, row0 + 8 < tokens, inGroup);
        }
    }

    /// <summary>
    /// Q's TF32 A fragments for 64 columns starting at <paramref name="at0"/> (this lane's row
    /// groupID) and <paramref name="at1"/> (row groupID + 8), zeros for rows past tokens: k-step
    /// ks (8 columns) in q[4·ks..], a[i] = row groupID + 8·(i &amp; 1), column threadID_in_group + 4·(i >> 1).
    /// Left in fp32: the MMA rounds to TF32 (cvt.rna) itself.
    /// </summary>
    [DeviceFunction]
    public static void LoadQueryTf32(Span<float> q, ReadOnlyView<float> qkv, int at0, int at1, bool valid0, bool valid1, int inGroup)
    {
        for (int ks = 0; ks < Columns / 8; ks++)
        {
            for (int i = 0; i < 4; i++)
            {
                bool valid = (i & 1) == 0 ? valid0 : valid1;
                int at = ((i & 1) == 0 ? at0 : at1) + 8 * ks + inGroup + 4 * (i >> 1);
                q[4 * ks + i] = valid ? qkv[at] : 0f;
            }
        }
    }

    /// <summary>
    /// Q's 16-bit A fragments for 64 columns (as <see cref="LoadQueryTf32"/>), rounded to BF16 or
    /// FP16 once here: k-step ks (16 columns) in q[4·ks..], word r = row groupID + 8·(r &amp; 1),
    /// columns 2·threadID_in_group + 8·(r >> 1) and the next.
    /// </summary>
    [DeviceFunction]
    public static void LoadQuery16(Span<uint> q, ReadOnlyView<float> qkv, int at0, int at1, bool valid0, bool valid1, int inGroup, bool fp16)
    {
        for (int ks = 0; ks < Columns / 16; ks++)
        {
            for (int r = 0; r < 4; r++)
            {
                bool valid = (r & 1) == 0 ? valid0 : valid1;
                int at = ((r & 1) == 0 ? at0 : at1) + 16 * ks + 2 * inGroup + 8 * (r >> 1);
                q[4 * ks + r] = valid ? Pack16(qkv[at], qkv[at + 1], fp16) : 0u;
            }
        }
    }

    /// <summary>Two floats rounded to FP16 or BF16 (to nearest even) in one word, low first.</summary>
    [DeviceFunction]
    public static uint Pack16(float low, float high, bool fp16) => fp16 ? Mma.PackHalf(low, high) : Mma.PackBf16(low, high);

    /// <summary>d (fragment at dIndex) += a (fragment at aIndex) · b, m16n8k16 in FP16 or BF16.</summary>
    [DeviceFunction]
    public static void Mma16(Span<float> d, int dIndex, Span<uint> a, int aIndex, Span<uint> b, bool fp16)
    {
        if (fp16)
        {
            Mma.M16N8K16F16(d, dIndex, a, aIndex, b, 0);
        }
        else
        {
            Mma.M16N8K16Bf16(d, dIndex, a, aIndex, b, 0);
        }
    }

    /// <summary>Running max −∞ and running sums 0 for this lane's two rows: stats = (max0, max1, sum0, sum1, correction0, correction1).</summary>
    [DeviceFunction]
    public static void StartStatistics(Span<float> stats)
    {
        for (int i = 0; i < 6; i++)
        {
            stats[i] = i < 2 ? float.NegativeInfinity : 0f;
        }
    }

    /// <summary>Zeros the S accumulators before a tile's Q·Kᵀ.</summary>
    [DeviceFunction]
    public static void ClearScores(Span<float> s)
    {
        for (int i = 0; i < KeyTile / 2; i++)
        {
            s[i] = 0f;
        }
    }

    /// <summary>
    /// Stages rows [0, rows) of a K or V tile, fp32, row r at tile[r·pitch]: element c of row r is
    /// qkv[at + r·rowStride + c]; rows past <paramref name="rows"/> (past tokens) are zeros, so
    /// P = 0 never meets a stale or NaN value. Neighbouring threads read neighbouring columns.
    /// </summary>
    [DeviceFunction]
    public static void StageFloatRows(SharedArray<float> tile, ReadOnlyView<float> qkv, int at, int rows, int rowStride, int pitch, int headSize, int local)
    {
        for (int e = local; e < KeyTile * headSize; e += Threads)
        {
            int r = e / headSize;
            int c = e - r * headSize;
            tile[r * pitch + c] = r < rows ? qkv[at + r * rowStride + c] : 0f;
        }
    }

    /// <summary>
    /// Stages a K tile as 16-bit column pairs, the form S's B fragments read: word w of key r,
    /// tile[r·pitch + w], is (K[r, 2w], K[r, 2w + 1]); zeros past <paramref name="rows"/>.
    /// </summary>
    [DeviceFunction]
    public static void StageKeys16(SharedArray<uint> tile, ReadOnlyView<float> qkv, int at, int rows, int rowStride, int pitch, int headSize, int local, bool fp16)
    {
        int words = headSize / 2;
        for (int e = local; e < KeyTile * words; e += Threads)
        {
            int r = e / words;
            int w = e - r * words;
            int from = at + r * rowStride + 2 * w;
            tile[r * pitch + w] = r < rows ? Pack16(qkv[from], qkv[from + 1], fp16) : 0u;
        }
    }

    /// <summary>
    /// Stages a V tile transposed, as 16-bit key pairs, the form P·V's B fragments read: word j of
    /// head column c, tile[c·<see cref="ValueWordPitch"/> + j], is (V[2j, c], V[2j + 1, c]); zeros
    /// for keys past <paramref name="rows"/>. Neighbouring threads read neighbouring columns.
    /// </summary>
    [DeviceFunction]
    public static void StageValues16(SharedArray<uint> tile, ReadOnlyView<float> qkv, int at, int rows, int rowStride, int headSize, int local, bool fp16)
    {
        for (int e = local; e < KeyTile / 2 * headSize; e += Threads)
        {
            int j = e / headSize;
            int c = e - j * headSize;
            int from = at + 2 * j * rowStride + c;
            float first = 2 * j < rows ? qkv[from] : 0f;
            float second = 2 * j + 1 < rows ? qkv[from + rowStride] : 0f;
            tile[c * ValueWordPitch + j] = Pack16(first, second, fp16);
        }
    }

    /// <summary>
    /// S (16 × KeyTile, four 8-key tiles in s[4·nt..]) += Q·Kᵀ over 64 head columns from
    /// <paramref name="column0"/>, TF32: B[k, n] = K[key n, column k], b[i] = column
    /// threadID_in_group + 4·i of key groupID.
    /// </summary>
    [DeviceFunction]
    public static void ScoresTf32(Span<float> s, Span<float> q, Span<float> b, SharedArray<float> keys, int pitch, int column0, int local)
    {
        int groupId = local % 32 / 4;
        int inGroup = local % 4;
        for (int ks = 0; ks < Columns / 8; ks++)
        {
            for (int nt = 0; nt < KeyTile / 8; nt++)
            {
                int at = (8 * nt + groupId) * pitch + column0 + 8 * ks + inGroup;
                b[0] = keys[at];
                b[1] = keys[at + 4];
                Mma.M16N8K8Tf32(s, 4 * nt, q, 4 * ks, b, 0);
            }
        }
    }

    /// <summary>
    /// S += Q·Kᵀ over 64 head columns from <paramref name="column0"/>, BF16 or FP16: word r of B
    /// is columns 2·threadID_in_group + 8·r and the next of key groupID, one word of the staged tile.
    /// </summary>
    [DeviceFunction]
    public static void Scores16(Span<float> s, Span<uint> q, Span<uint> b, SharedArray<uint> keys, int pitch, int column0, int local, bool fp16)
    {
        int groupId = local % 32 / 4;
        int inGroup = local % 4;
        for (int ks = 0; ks < Columns / 16; ks++)
        {
            for (int nt = 0; nt < KeyTile / 8; nt++)
            {
                int at = (8 * nt + groupId) * pitch + column0 / 2 + 8 * ks + inGroup;
                b[0] = keys[at];
                b[1] = keys[at + 4];
                Mma16(s, 4 * nt, q, 4 * ks, b, fp16);
            }
        }
    }

    /// <summary>
    /// One tile's online softmax for this lane's two rows (s[i] is row groupID + 8·((i >> 1) &amp; 1),
    /// key firstKey + 8·(i / 4) + 2·threadID_in_group + (i &amp; 1)): scales the scores, masks keys
    /// past tokens with −∞, takes each row's tile max over the four lanes that share the row,
    /// replaces s by p = exp(s − newMax), and updates the running max, this lane's part of the
    /// running sum and the correction exp(oldMax − newMax) that O is rescaled by. A row whose max
    /// is still −∞ (all its scores NaN or −∞) subtracts 0 instead, so no −∞ − −∞ makes a NaN; a
    /// NaN score stays NaN through exp and reaches its row's output, as in the fp32 kernel.
    /// </summary>
    [DeviceFunction]
    public static void OnlineSoftmaxTile(Span<float> s, Span<float> stats, int firstKey, int tokens, float scale, int inGroup)
    {
        float tileMax0 = float.NegativeInfinity;
        float tileMax1 = float.NegativeInfinity;
        for (int i = 0; i < KeyTile / 2; i++)
        {
            int key = firstKey + 8 * (i / 4) + 2 * inGroup + (i & 1);
            float score = key < tokens ? s[i] * scale : float.NegativeInfinity;
            s[i] = score;
            if ((i & 2) == 0)
            {
                tileMax0 = KernelMath.Max(tileMax0, score);
            }
            else
            {
                tileMax1 = KernelMath.Max(tileMax1, score);
            }
        }

        // The four lanes of a row differ in the low two bits of the lane.
        float other0 = Warp.ShuffleXor(tileMax0, 1);
        float other1 = Warp.ShuffleXor(tileMax1, 1);
        tileMax0 = KernelMath.Max(tileMax0, other0);
        tileMax1 = KernelMath.Max(tileMax1, other1);
        other0 = Warp.ShuffleXor(tileMax0, 2);
        other1 = Warp.ShuffleXor(tileMax1, 2);
        tileMax0 = KernelMath.Max(tileMax0, other0);
        tileMax1 = KernelMath.Max(tileMax1, other1);

        float newMax0 = KernelMath.Max(stats[0], tileMax0);
        float newMax1 = KernelMath.Max(stats[1], tileMax1);
        float base0 = newMax0 == float.NegativeInfinity ? 0f : newMax0;
        float base1 = newMax1 == float.NegativeInfinity ? 0f : newMax1;
        float sum0 = 0f;
        float sum1 = 0f;
        for (int i = 0; i < KeyTile / 2; i++)
        {
            if ((i & 2) == 0)
            {
                s[i] = KernelMath.Exp(s[i] - base0);
                sum0 += s[i];
            }
            else
            {
                s[i] = KernelMath.Exp(s[i] - base1);
                sum1 += s[i];
            }
        }

        float correction0 = KernelMath.Exp(stats[0] - base0);
        float correction1 = KernelMath.Exp(stats[1] - base1);
        stats[0] = newMax0;
        stats[1] = newMax1;
        stats[2] = stats[2] * correction0 + sum0;
        stats[3] = stats[3] * correction1 + sum1;
        stats[4] = correction0;
        stats[5] = correction1;
    }

    /// <summary>O (eight 16 × 8 tiles, 64 head columns) times this tile's correction of each row: elements 0, 1 of a tile are row groupID, 2, 3 row groupID + 8.</summary>
    [DeviceFunction]
    public static void RescaleOutput(Span<float> o, Span<float> stats)
    {
        for (int i = 0; i < Columns / 2; i++)
        {
            o[i] = o[i] * stats[4 + ((i >> 1) & 1)];
        }
    }

    /// <summary>
    /// P's TF32 A fragments from S's accumulators in place. An A fragment holds columns
    /// threadID_in_group and + 4 of an 8-key k-step, S's tile holds keys 2·threadID_in_group and
    /// + 1: rather than shuffle, k-step column c stands for key 2c (c &lt; 4) or 2(c − 4) + 1, and
    /// <see cref="ValuesTf32"/> reads V's rows in the same order. Then a = (d0, d2, d1, d3).
    /// </summary>
    [DeviceFunction]
    public static void ProbabilitiesTf32(Span<float> s)
    {
        for (int j = 0; j < KeyTile / 8; j++)
        {
            float rowFirst = s[4 * j + 1];
            s[4 * j + 1] = s[4 * j + 2];
            s[4 * j + 2] = rowFirst;
        }
    }

    /// <summary>
    /// P's 16-bit A fragments from S's accumulators: the m16n8k16 C layout of two neighbouring
    /// 8-key tiles is the A layout of one 16-key k-step, so word r is (s[2r], s[2r + 1]) rounded.
    /// </summary>
    [DeviceFunction]
    public static void Probabilities16(Span<uint> p, Span<float> s, bool fp16)
    {
        for (int r = 0; r < KeyTile / 4; r++)
        {
            p[r] = Pack16(s[2 * r], s[2 * r + 1], fp16);
        }
    }

    /// <summary>
    /// O (64 head columns from <paramref name="column0"/>) += P·V, TF32, with P's key order of
    /// <see cref="ProbabilitiesTf32"/>: b[i] = V[key 8j + 2·threadID_in_group + i, column groupID].
    /// </summary>
    [DeviceFunction]
    public static void ValuesTf32(Span<float> o, Span<float> p, Span<float> b, SharedArray<float> values, int pitch, int column0, int local)
    {
        int groupId = local % 32 / 4;
        int inGroup = local % 4;
        for (int j = 0; j < KeyTile / 8; j++)
        {
            for (int nt = 0; nt < Columns / 8; nt++)
            {
                int at = (8 * j + 2 * inGroup) * pitch + column0 + 8 * nt + groupId;
                b[0] = values[at];
                b[1] = values[at + pitch];
                Mma.M16N8K8Tf32(o, 4 * nt, p, 4 * j, b, 0);
            }
        }
    }

    /// <summary>
    /// O (64 head columns from <paramref name="column0"/>) += P·V, BF16 or FP16: word r of B is
    /// keys 16·kk + 2·threadID_in_group + 8·r and the next of column groupID, one word of the
    /// transposed value tile.
    /// </summary>
    [DeviceFunction]
    public static void Values16(Span<float> o, Span<uint> p, Span<uint> b, SharedArray<uint> values, int column0, int local, bool fp16)
    {
        int groupId = local % 32 / 4;
        int inGroup = local % 4;
        for (int kk = 0; kk < KeyTile / 16; kk++)
        {
            for (int nt = 0; nt < Columns / 8; nt++)
            {
                int at = (column0 + 8 * nt + groupId) * ValueWordPitch + 8 * kk + inGroup;
                b[0] = values[at];
                b[1] = values[at + 4];
                Mma16(o, 4 * nt, p, 4 * kk, b, fp16);
            }
        }
    }

    /// <summary>Each row's running sum over its four lanes (each lane summed its own columns; the corrections were the same in all four).</summary>
    [DeviceFunction]
    public static void FinishRowSums(Span<float> stats)
    {
        float other0 = Warp.ShuffleXor(stats[2], 1);
        float other1 = Warp.ShuffleXor(stats[3], 1);
        stats[2] = stats[2] + other0;
        stats[3] = stats[3] + other1;
        other0 = Warp.ShuffleXor(stats[2], 2);
        other1 = Warp.ShuffleXor(stats[3], 2);
        stats[2] = stats[2] + other0;
        stats[3] = stats[3] + other1;
    }

    /// <summary>
    /// O / rowsum for 64 head columns into output: element i of tile nt is row groupID + 8·(i >> 1)
    /// (at <paramref name="at0"/> or <paramref name="at1"/>), column 8·nt + 2·threadID_in_group + (i &amp; 1); rows past tokens are not written.
    /// </summary>
    [DeviceFunction]
    public static void StoreRows(Span<float> o, Span<float> stats, ReadWriteView<float> output, int at0, int at1, bool valid0, bool valid1, int inGroup)
    {
        float inverse0 = 1f / stats[2];
        float inverse1 = 1f / stats[3];
        for (int nt = 0; nt < Columns / 8; nt++)
        {
            for (int i = 0; i < 4; i++)
            {
                int column = 8 * nt + 2 * inGroup + (i & 1);
                if ((i & 2) == 0)
                {
                    if (valid0)
                    {
                        output[at0 + column] = o[4 * nt + i] * inverse0;
                    }
                }
                else if (valid1)
                {
                    output[at1 + column] = o[4 * nt + i] * inverse1;
                }
            }
        }
    }
}
