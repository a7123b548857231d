using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

public sealed unsafe partial class CpuTransformerOps
{
    /// <summary>
    /// Fused: per (image, head, block of queries) on all cores, scores for a block of keys, online
    /// softmax, ·V, with only a block of scores in memory. Unfused: all scores into a
    /// [batch, heads, tokens, tokens] matrix, a softmax pass over it, then P·V. Both first pack K
    /// (transposed) and V per head. Scratch comes from the shared array pool, so calls may run
    /// concurrently. Runs synchronously; the stream is not used.
    /// </summary>
    private protected override void AttentionCore(
        DeviceView<float> qkv, DeviceView<float> output, int batch, int tokens, int heads, int headSize, bool fused, DeviceStream? stream)
    {
        var shape = new CpuAttention.Shape(batch, tokens, heads, headSize);
        long scoreCount = fused ? 0 : (long)batch * heads * tokens * tokens;
        if (scoreCount > Array.MaxLength || shape.PackedLength > Array.MaxLength)
        {
            throw new ArgumentException(
                $"attention's scratch for [batch={batch}, heads={heads}, tokens={tokens}, headSize={headSize}] does not fit one array"
                + (fused ? "" : "; the fused path needs less"));
        }

        if (batch == 0 || tokens == 0)
        {
            return;
        }

        float* input = Pointer(qkv), result = Pointer(output);
        float[] packed = ArrayPool<float>.Shared.Rent((int)shape.PackedLength);
        float[] scores = ArrayPool<float>.Shared.Rent((int)scoreCount);
        try
        {
            fixed (float* packedKeysAndValues = packed, scoreMatrix = scores)
            {
                CpuAttention.Pack(input, packedKeysAndValues, shape);
                if (fused)
                {
                    CpuAttention.Fused(packedKeysAndValues, input, result, shape);
                }
                else
                {
                    CpuAttention.Unfused(packedKeysAndValues, input, result, scoreMatrix, shape);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packed);
            ArrayPool<float>.Shared.Return(scores);
        }
    }
}

/// <summary>
/// Attention on the host: Vector256 micro-kernels (FMA where the CPU has it) for the scores and
/// for P·V, with Vector512 ones beside them where the JIT accelerates 512 bits, Parallel.For
/// over (image, head, block of queries). K is packed transposed and V
/// contiguous per head first, once per call. The fused and unfused paths share the packing and
/// the micro-kernels, so what differs between them is only where the scores live.
/// </summary>
internal static unsafe class CpuAttention
{
    /// <summary>Queries per work item: its scores block is QueryBlock × keys.</summary>
    private const int QueryBlock = 32;

    /// <summary>Keys per online-softmax step of the fused path (tokens are split into even blocks up to this).</summary>
    private const int MaxKeyBlock = 256;

    /// <summary>Scores are computed 16 keys (two vectors) at a time; packed keys are padded to it.</summary>
    private const int KeyWidth = 16;

    /// <summary>Rows of a micro-kernel tile: 4 × 16 scores (or 4 × 16 outputs) in 8 vector registers.</summary>
    private const int Rows = 4;

    /// <summary>Rows of the Vector512 score tile: 8 × 16 scores in 8 zmm registers.</summary>
    private const int WideRows = 8;

    /// <summary>Columns of the Vector512 P·V tile: 4 rows × 64 outputs in 16 zmm registers.</summary>
    private const int WideColumns = 64;

    /// <summary>Softmax rows per work item of the unfused softmax pass.</summary>
    private const int SoftmaxRows = 64;

    public readonly record struct Shape(int Batch, int Tokens, int Heads, int HeadSize)
    {
        public int Dim => Heads * HeadSize;

        public int RowStride => 3 * Dim;

        /// <summary>Tokens rounded up to the score kernel's 16 keys: the row length of packed Kᵀ.</summary>
        public int TokensPadded => RoundUp(Tokens, KeyWidth);

        /// <summary>Per (image, head): Kᵀ [headSize, TokensPadded], then V [tokens, headSize].</summary>
        public long PackedPerHead => (long)HeadSize * TokensPadded + (long)Tokens * HeadSize;

        public long PackedLength => (long)Batch * Heads * PackedPerHead;

        public int QueryBlocks => (Tokens + QueryBlock - 1) / QueryBlock;

        public int Items => Batch * Heads * QueryBlocks;

        public float Scale => 1f / MathF.Sqrt(HeadSize);

        /// <summary>Work item → image, head and first query; consecutive items share a head, so its packed K and V stay in cache.</summary>
        public (int Image, int Head, int FirstQuery) Item(int item)
        {
            int block = item % QueryBlocks;
            int imageHead = item / QueryBlocks;
            return (imageHead / Heads, imageHead % Heads, block * QueryBlock);
        }

        /// <summary>Element (token 0, column 0) of a head's q in qkv; k and v are Dim and 2·Dim further on.</summary>
        public long HeadBase(int image, int head) => (long)image * Tokens * RowStride + (long)head * HeadSize;

        public float* KeysTransposed(float* packed, int image, int head) => packed + (long)(image * Heads + head) * PackedPerHead;

        public float* Values(float* packed, int image, int head) => KeysTransposed(packed, image, head) + (long)HeadSize * TokensPadded;
    }

    /// <summary>
    /// Kᵀ (zeros past the last token) and V of every (image, head) out of the qkv rows, so the
    /// score kernel reads 16 keys of one column as two vectors and P·V reads V rows back to back.
    /// </summary>
    public static void Pack(float* qkv, float* packed, Shape shape) =>
        Parallel.For(0, shape.Batch * shape.Heads, imageHead => PackHead(qkv, packed, shape, imageHead));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackHead(float* qkv, float* packed, Shape shape, int imageHead)
    {
        int image = imageHead / shape.Heads, head = imageHead % shape.Heads;
        int tokens = shape.Tokens, headSize = shape.HeadSize, padded = shape.TokensPadded;
        float* keys = qkv + shape.HeadBase(image, head) + shape.Dim;
        float* transposed = shape.KeysTransposed(packed, image, head);
        TransposeKeys(keys, shape.RowStride, tokens, headSize, transposed, padded);

        for (int c = 0; padded > tokens && c < headSize; c++)
        {
            new Span<float>(transposed + (long)c * padded + tokens, padded - tokens).Clear();
        }

        float* values = keys + shape.Dim;
        float* packedValues = shape.Values(packed, image, head);
        for (int s = 0; s < tokens; s++)
        {
            new ReadOnlySpan<float>(values + (long)s * shape.RowStride, headSize).CopyTo(new Span<float>(packedValues + (long)s * headSize, headSize));
        }
    }

    /// <summary>transposed[c, s] = keys[s, c]: 8 × 8 blocks through AVX shuffles, the edges one by one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeKeys(float* keys, int rowStride, int tokens, int headSize, float* transposed, int padded)
    {
        int s = 0;
        if (Avx.IsSupported)
        {
            for (; s + 8 <= tokens; s += 8)
            {
                int c = 0;
                for (; c + 8 <= headSize; c += 8)
                {
                    Transpose8x8(keys + (long)s * rowStride + c, rowStride, transposed + (long)c * padded + s, padded);
                }

                for (; c < headSize; c++)
                {
                    for (int i = 0; i < 8; i++)
                    {
                        transposed[(long)c * padded + s + i] = keys[(long)(s + i) * rowStride + c];
                    }
                }
            }
        }

        for (; s < tokens; s++)
        {
            for (int c = 0; c < headSize; c++)
            {
                transposed[(long)c * padded + s] = keys[(long)s * rowStride + c];
            }
        }
    }

    /// <summary>Rows of 8 at sourceStride → columns of 8 at targetStride (unpack, shuffle, swap 128-bit halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* source, int sourceStride, float* target, int targetStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(source), r1 = Avx.LoadVector256(source + sourceStride);
        Vector256<float> r2 = Avx.LoadVector256(source + 2L * sourceStride), r3 = Avx.LoadVector256(source + 3L * sourceStride);
        Vector256<float> r4 = Avx.LoadVector256(source + 4L * sourceStride), r5 = Avx.LoadVector256(source + 5L * sourceStride);
        Vector256<float> r6 = Avx.LoadVector256(source + 6L * sourceStride), r7 = Avx.LoadVector256(source + 7L * sourceStride);

        // t0 = [r0₀ r1₀ r0₁ r1₁ | r0₄ r1₄ r0₅ r1₅], ...
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);

        // u0 = [column 0 of rows 0–3 | column 4 of rows 0–3], ...
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);

        Avx.Store(target, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(target + targetStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(target + 2L * targetStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(target + 3L * targetStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(target + 4L * targetStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(target + 5L * targetStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(target + 6L * targetStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(target + 7L * targetStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    public static void Fused(float* packed, float* qkv, float* output, Shape shape)
    {
        // Even blocks, each a multiple of 16 keys, so no block reads past the padded Kᵀ rows.
        int keyBlocks = (shape.Tokens + MaxKeyBlock - 1) / MaxKeyBlock;
        int keyBlock = RoundUp((shape.Tokens + keyBlocks - 1) / keyBlocks, KeyWidth);
        Parallel.For(
            0,
            shape.Items,
            () => new Workspace(scores: (long)QueryBlock * keyBlock, accumulators: (long)QueryBlock * shape.HeadSize),
            (item, _, workspace) =>
            {
                FusedItem(packed, qkv, output, shape, item, keyBlock, workspace);
                return workspace;
            },
            workspace => workspace.Dispose());
    }

    public static void Unfused(float* packed, float* qkv, float* output, float* scores, Shape shape)
    {
        int tokens = shape.Tokens;

        // Scores: scale · Q·Kᵀ for every (image, head) into [batch, heads, tokens, tokens].
        Parallel.For(
            0,
            shape.Items,
            () => new Workspace(scores: Rows * KeyWidth, accumulators: 0),
            (item, _, workspace) =>
            {
                (int image, int head, int firstQuery) = shape.Item(item);
                int queries = Math.Min(QueryBlock, tokens - firstQuery);
                float* rows = scores + ((long)(image * shape.Heads + head) * tokens + firstQuery) * tokens;
                Scores(
                    qkv + shape.HeadBase(image, head) + (long)firstQuery * shape.RowStride, shape.RowStride, queries,
                    shape.KeysTransposed(packed, image, head), shape.TokensPadded, tokens, shape.HeadSize, shape.Scale, rows, tokens, workspace.Scores);
                return workspace;
            },
            workspace => workspace.Dispose());

        // Softmax of every row, in place (the host has no aliasing rules to trip over).
        long rowCount = (long)shape.Batch * shape.Heads * tokens;
        int softmaxItems = checked((int)((rowCount + SoftmaxRows - 1) / SoftmaxRows));
        Parallel.For(0, softmaxItems, item =>
        {
            long end = Math.Min(rowCount, (long)(item + 1) * SoftmaxRows);
            for (long row = (long)item * SoftmaxRows; row < end; row++)
            {
                float* scoresRow = scores + row * tokens;
                float max = RowMax(scoresRow, tokens);
                float sum = ExpAndSum(scoresRow, tokens, max);
                ScaleRow(scoresRow, tokens, 1f / sum);
            }
        });

        // P·V straight into the output rows, heads side by side.
        Parallel.For(0, shape.Items, item =>
        {
            (int image, int head, int firstQuery) = shape.Item(item);
            int queries = Math.Min(QueryBlock, tokens - firstQuery);
            float* outputRows = OutputRow(output, shape, image, head, firstQuery);
            for (int r = 0; r < queries; r++)
            {
                new Span<float>(outputRows + (long)r * shape.Dim, shape.HeadSize).Clear();
            }

            float* probabilities = scores + ((long)(image * shape.Heads + head) * tokens + firstQuery) * tokens;
            AccumulateValues(
                probabilities, tokens, queries, shape.Values(packed, image, head), shape.HeadSize, tokens, shape.HeadSize, outputRows, shape.Dim);
        });
    }

    /// <summary>One (image, head, block of queries): the key blocks in turn, with a running max and sum per query.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FusedItem(float* packed, float* qkv, float* output, Shape shape, int item, int keyBlock, Workspace workspace)
    {
        (int image, int head, int firstQuery) = shape.Item(item);
        int queries = Math.Min(QueryBlock, shape.Tokens - firstQuery);
        int headSize = shape.HeadSize;
        float* queryRows = qkv + shape.HeadBase(image, head) + (long)firstQuery * shape.RowStride;
        float* keysTransposed = shape.KeysTransposed(packed, image, head), values = shape.Values(packed, image, head);
        float* scores = workspace.Scores, accumulators = workspace.Accumulators;
        float* runningMax = workspace.RunningMax, runningSum = workspace.RunningSum;

        new Span<float>(accumulators, queries * headSize).Clear();
        new Span<float>(runningMax, queries).Fill(float.NegativeInfinity);
        new Span<float>(runningSum, queries).Clear();

        for (int firstKey = 0; firstKey < shape.Tokens; firstKey += keyBlock)
        {
            int keys = Math.Min(keyBlock, shape.Tokens - firstKey);
            int keysPadded = RoundUp(keys, KeyWidth);
            Scores(queryRows, shape.RowStride, queries, keysTransposed + firstKey, shape.TokensPadded, keysPadded, headSize, shape.Scale, scores, keyBlock, null);

            // Online softmax: p = exp(s − newMax), and what was summed so far is rescaled by exp(oldMax − newMax).
            for (int r = 0; r < queries; r++)
            {
                float* row = scores + r * keyBlock;
                float newMax = MathF.Max(runningMax[r], RowMax(row, keys));
                float correction = MathF.Exp(runningMax[r] - newMax);
                runningSum[r] = runningSum[r] * correction + ExpAndSum(row, keys, newMax);
                runningMax[r] = newMax;
                // Nothing to rescale in the first block (the accumulators are zero).
                if (firstKey > 0 && correction != 1f)
                {
                    ScaleRow(accumulators + r * headSize, headSize, correction);
                }
            }

            AccumulateValues(scores, keyBlock, queries, values + (long)firstKey * headSize, headSize, keys, headSize, accumulators, headSize);
        }

        WriteRows(accumulators, queries, shape, output, image, head, firstQuery, runningSum);
    }

    /// <summary>output[image, firstQuery + r, head·headSize + c] = accumulators[r, c] / sums[r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WriteRows(float* accumulators, int queries, Shape shape, float* output, int image, int head, int firstQuery, float* sums)
    {
        for (int r = 0; r < queries; r++)
        {
            ScaleRow(accumulators + r * shape.HeadSize, OutputRow(output, shape, image, head, firstQuery + r), shape.HeadSize, 1f / sums[r]);
        }
    }

    /// <summary>Where output[image, query, head·headSize] lies: heads side by side in each token's row.</summary>
    private static float* OutputRow(float* output, Shape shape, int image, int head, int query) =>
        output + ((long)image * shape.Tokens + query) * shape.Dim + (long)head * shape.HeadSize;

    /// <summary>
    /// scores[r, j] = scale · q_r · k_j for r &lt; rows and j &lt; columns, from query rows at
    /// queryStride and keys transposed [headSize, keyStride] (keyStride a multiple of 16, zero past
    /// the keys). A partial last block of 16 goes through <paramref name="edge"/> (4 × 16 floats),
    /// needed only when columns is not a multiple of 16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores(
        float* queries, int queryStride, int rows, float* keysTransposed, int keyStride, int columns, int headSize, float scale,
        float* scores, int scoreStride, float* edge)
    {
        for (int j = 0; j < columns; j += KeyWidth)
        {
            bool full = j + KeyWidth <= columns;
            float* keys = keysTransposed + j;
            int r = 0;
            if (Vector512.IsHardwareAccelerated && full)
            {
                for (; r + WideRows <= rows; r += WideRows)
                {
                    Scores8x16(queries + (long)r * queryStride, queryStride, keys, keyStride, headSize, scale, scores + (long)r * scoreStride + j, scoreStride);
                }
            }

            for (; r + Rows <= rows; r += Rows)
            {
                float* query = queries + (long)r * queryStride;
                float* target = scores + (long)r * scoreStride + j;
                if (full)
                {
                    Scores4x16(query, queryStride, keys, keyStride, headSize, scale, target, scoreStride);
                }
                else
                {
                    Scores4x16(query, queryStride, keys, keyStride, headSize, scale, edge, KeyWidth);
                    CopyColumns(edge, KeyWidth, target, scoreStride, Rows, columns - j);
                }
            }

            for (; r < rows; r++)
            {
                float* query = queries + (long)r * queryStride;
                float* target = scores + (long)r * scoreStride + j;
                if (full)
                {
                    Scores1x16(query, keys, keyStride, headSize, scale, target);
                }
                else
                {
                    Scores1x16(query, keys, keyStride, headSize, scale, edge);
                    CopyColumns(edge, KeyWidth, target, scoreStride, 1, columns - j);
                }
            }
        }
    }

    private static void CopyColumns(float* source, int sourceStride, float* target, int targetStride, int rows, int columns)
    {
        for (int r = 0; r < rows; r++)
        {
            new ReadOnlySpan<float>(source + r * sourceStride, columns).CopyTo(new Span<float>(target + (long)r * targetStride, columns));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : (a * b) + c;

    /// <summary>4 queries × 16 keys: per column of the head, two key vectors and four broadcast query values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores4x16(float* query, int queryStride, float* keys, int keyStride, int headSize, float scale, float* target, int targetStride)
    {
        float* q0 = query, q1 = query + queryStride, q2 = q1 + queryStride, q3 = q2 + queryStride;
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
        for (int c = 0; c < headSize; c++)
        {
            Vector256<float> k0 = Vector256.Load(keys), k1 = Vector256.Load(keys + 8);
            keys += keyStride;
            Vector256<float> q = Vector256.Create(q0[c]);
            a00 = MultiplyAdd(q, k0, a00);
            a01 = MultiplyAdd(q, k1, a01);
            q = Vector256.Create(q1[c]);
            a10 = MultiplyAdd(q, k0, a10);
            a11 = MultiplyAdd(q, k1, a11);
            q = Vector256.Create(q2[c]);
            a20 = MultiplyAdd(q, k0, a20);
            a21 = MultiplyAdd(q, k1, a21);
            q = Vector256.Create(q3[c]);
            a30 = MultiplyAdd(q, k0, a30);
            a31 = MultiplyAdd(q, k1, a31);
        }

        Vector256<float> s = Vector256.Create(scale);
        (a00 * s).Store(target);
        (a01 * s).Store(target + 8);
        target += targetStride;
        (a10 * s).Store(target);
        (a11 * s).Store(target + 8);
        target += targetStride;
        (a20 * s).Store(target);
        (a21 * s).Store(target + 8);
        target += targetStride;
        (a30 * s).Store(target);
        (a31 * s).Store(target + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores1x16(float* query, float* keys, int keyStride, int headSize, float scale, float* target)
    {
        Vector256<float> a0 = default, a1 = default;
        for (int c = 0; c < headSize; c++)
        {
            Vector256<float> q = Vector256.Create(query[c]);
            a0 = MultiplyAdd(q, Vector256.Load(keys), a0);
            a1 = MultiplyAdd(q, Vector256.Load(keys + 8), a1);
            keys += keyStride;
        }

        Vector256<float> s = Vector256.Create(scale);
        (a0 * s).Store(target);
        (a1 * s).Store(target + 8);
    }

    /// <summary>
    /// accumulators[r, :] += Σ_{s &lt; keys} p[r, s] · v_s for r &lt; rows: p rows at
    /// probabilityStride, value rows at valueStride (headSize contiguous floats each, read in
    /// place), accumulator rows at accumulatorStride. Columns in blocks of 16, then 8, then one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateValues(
        float* probabilities, int probabilityStride, int rows, float* values, int valueStride, int keys, int headSize,
        float* accumulators, int accumulatorStride)
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c + WideColumns <= headSize; c += WideColumns)
            {
                int r = 0;
                for (; r + Rows <= rows; r += Rows)
                {
                    Values4x64(probabilities + (long)r * probabilityStride, probabilityStride, values + c, valueStride, keys, accumulators + (long)r * accumulatorStride + c, accumulatorStride);
                }

                for (; r < rows; r++)
                {
                    Values1x64(probabilities + (long)r * probabilityStride, values + c, valueStride, keys, accumulators + (long)r * accumulatorStride + c);
                }
            }
        }

        for (; c + 16 <= headSize; c += 16)
        {
            int r = 0;
            for (; r + Rows <= rows; r += Rows)
            {
                Values4x16(probabilities + (long)r * probabilityStride, probabilityStride, values + c, valueStride, keys, accumulators + (long)r * accumulatorStride + c, accumulatorStride);
            }

            for (; r < rows; r++)
            {
                Values1x8(probabilities + (long)r * probabilityStride, values + c, valueStride, keys, accumulators + (long)r * accumulatorStride + c);
                Values1x8(probabilities + (long)r * probabilityStride, values + c + 8, valueStride, keys, accumulators + (long)r * accumulatorStride + c + 8);
            }
        }

        for (; c + 8 <= headSize; c += 8)
        {
            for (int r = 0; r < rows; r++)
            {
                Values1x8(probabilities + (long)r * probabilityStride, values + c, valueStride, keys, accumulators + (long)r * accumulatorStride + c);
            }
        }

        for (; c < headSize; c++)
        {
            for (int r = 0; r < rows; r++)
            {
                float* p = probabilities + (long)r * probabilityStride;
                float sum = 0f;
                for (int s = 0; s < keys; s++)
                {
                    sum += p[s] * values[(long)s * valueStride + c];
                }

                accumulators[(long)r * accumulatorStride + c] += sum;
            }
        }
    }

    /// <summary>4 queries × 16 output columns: per key, two value vectors and four broadcast probabilities.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values4x16(float* probabilities, int probabilityStride, float* values, int valueStride, int keys, float* accumulators, int accumulatorStride)
    {
        float* p0 = probabilities, p1 = p0 + probabilityStride, p2 = p1 + probabilityStride, p3 = p2 + probabilityStride;
        float* o0 = accumulators, o1 = o0 + accumulatorStride, o2 = o1 + accumulatorStride, o3 = o2 + accumulatorStride;
        Vector256<float> a00 = Vector256.Load(o0), a01 = Vector256.Load(o0 + 8), a10 = Vector256.Load(o1), a11 = Vector256.Load(o1 + 8);
        Vector256<float> a20 = Vector256.Load(o2), a21 = Vector256.Load(o2 + 8), a30 = Vector256.Load(o3), a31 = Vector256.Load(o3 + 8);
        for (int s = 0; s < keys; s++)
        {
            Vector256<float> v0 = Vector256.Load(values), v1 = Vector256.Load(values + 8);
            values += valueStride;
            Vector256<float> p = Vector256.Create(p0[s]);
            a00 = MultiplyAdd(p, v0, a00);
            a01 = MultiplyAdd(p, v1, a01);
            p = Vector256.Create(p1[s]);
            a10 = MultiplyAdd(p, v0, a10);
            a11 = MultiplyAdd(p, v1, a11);
            p = Vector256.Create(p2[s]);
            a20 = MultiplyAdd(p, v0, a20);
            a21 = MultiplyAdd(p, v1, a21);
            p = Vector256.Create(p3[s]);
            a30 = MultiplyAdd(p, v0, a30);
            a31 = MultiplyAdd(p, v1, a31);
        }

        a00.Store(o0);
        a01.Store(o0 + 8);
        a10.Store(o1);
        a11.Store(o1 + 8);
        a20.Store(o2);
        a21.Store(o2 + 8);
        a30.Store(o3);
        a31.Store(o3 + 8);
    }

    /// <summary>
    /// 8 queries × 16 keys in zmm registers: per column of the head, one key vector and eight
    /// broadcast query values. Each score is the same chain of FMAs over the head's columns as in
    /// <see cref="Scores4x16"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores8x16(float* query, int queryStride, float* keys, int keyStride, int headSize, float scale, float* target, int targetStride)
    {
        float* q0 = query, q1 = q0 + queryStride, q2 = q1 + queryStride, q3 = q2 + queryStride;
        float* q4 = q3 + queryStride, q5 = q4 + queryStride, q6 = q5 + queryStride, q7 = q6 + queryStride;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int c = 0; c < headSize; c++)
        {
            Vector512<float> k = Vector512.Load(keys);
            keys += keyStride;
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(q0[c]), k, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(q1[c]), k, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(q2[c]), k, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(q3[c]), k, a3);
            a4 = Vector512.FusedMultiplyAdd(Vector512.Create(q4[c]), k, a4);
            a5 = Vector512.FusedMultiplyAdd(Vector512.Create(q5[c]), k, a5);
            a6 = Vector512.FusedMultiplyAdd(Vector512.Create(q6[c]), k, a6);
            a7 = Vector512.FusedMultiplyAdd(Vector512.Create(q7[c]), k, a7);
        }

        Vector512<float> s = Vector512.Create(scale);
        (a0 * s).Store(target);
        (a1 * s).Store(target + targetStride);
        (a2 * s).Store(target + 2L * targetStride);
        (a3 * s).Store(target + 3L * targetStride);
        (a4 * s).Store(target + 4L * targetStride);
        (a5 * s).Store(target + 5L * targetStride);
        (a6 * s).Store(target + 6L * targetStride);
        (a7 * s).Store(target + 7L * targetStride);
    }

    /// <summary>4 queries × 64 output columns in 16 zmm registers: per key, four value vectors and four broadcast probabilities.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values4x64(float* probabilities, int probabilityStride, float* values, int valueStride, int keys, float* accumulators, int accumulatorStride)
    {
        float* p0 = probabilities, p1 = p0 + probabilityStride, p2 = p1 + probabilityStride, p3 = p2 + probabilityStride;
        float* o0 = accumulators, o1 = o0 + accumulatorStride, o2 = o1 + accumulatorStride, o3 = o2 + accumulatorStride;
        Vector512<float> a00 = Vector512.Load(o0), a01 = Vector512.Load(o0 + 16), a02 = Vector512.Load(o0 + 32), a03 = Vector512.Load(o0 + 48);
        Vector512<float> a10 = Vector512.Load(o1), a11 = Vector512.Load(o1 + 16), a12 = Vector512.Load(o1 + 32), a13 = Vector512.Load(o1 + 48);
        Vector512<float> a20 = Vector512.Load(o2), a21 = Vector512.Load(o2 + 16), a22 = Vector512.Load(o2 + 32), a23 = Vector512.Load(o2 + 48);
        Vector512<float> a30 = Vector512.Load(o3), a31 = Vector512.Load(o3 + 16), a32 = Vector512.Load(o3 + 32), a33 = Vector512.Load(o3 + 48);
        for (int s = 0; s < keys; s++)
        {
            Vector512<float> v0 = Vector512.Load(values), v1 = Vector512.Load(values + 16), v2 = Vector512.Load(values + 32), v3 = Vector512.Load(values + 48);
            values += valueStride;
            Vector512<float> p = Vector512.Create(p0[s]);
            a00 = Vector512.FusedMultiplyAdd(p, v0, a00);
            a01 = Vector512.FusedMultiplyAdd(p, v1, a01);
            a02 = Vector512.FusedMultiplyAdd(p, v2, a02);
            a03 = Vector512.FusedMultiplyAdd(p, v3, a03);
            p = Vector512.Create(p1[s]);
            a10 = Vector512.FusedMultiplyAdd(p, v0, a10);
            a11 = Vector512.FusedMultiplyAdd(p, v1, a11);
            a12 = Vector512.FusedMultiplyAdd(p, v2, a12);
            a13 = Vector512.FusedMultiplyAdd(p, v3, a13);
            p = Vector512.Create(p2[s]);
            a20 = Vector512.FusedMultiplyAdd(p, v0, a20);
            a21 = Vector512.FusedMultiplyAdd(p, v1, a21);
            a22 = Vector512.FusedMultiplyAdd(p, v2, a22);
            a23 = Vector512.FusedMultiplyAdd(p, v3, a23);
            p = Vector512.Create(p3[s]);
            a30 = Vector512.FusedMultiplyAdd(p, v0, a30);
            a31 = Vector512.FusedMultiplyAdd(p, v1, a31);
            a32 = Vector512.FusedMultiplyAdd(p, v2, a32);
            a33 = Vector512.FusedMultiplyAdd(p, v3, a33);
        }

        a00.Store(o0); a01.Store(o0 + 16); a02.Store(o0 + 32); a03.Store(o0 + 48);
        a10.Store(o1); a11.Store(o1 + 16); a12.Store(o1 + 32); a13.Store(o1 + 48);
        a20.Store(o2); a21.Store(o2 + 16); a22.Store(o2 + 32); a23.Store(o2 + 48);
        a30.Store(o3); a31.Store(o3 + 16); a32.Store(o3 + 32); a33.Store(o3 + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values1x64(float* probabilities, float* values, int valueStride, int keys, float* accumulators)
    {
        Vector512<float> a0 = Vector512.Load(accumulators), a1 = Vector512.Load(accumulators + 16);
        Vector512<float> a2 = Vector512.Load(accumulators + 32), a3 = Vector512.Load(accumulators + 48);
        for (int s = 0; s < keys; s++)
        {
            Vector512<float> p = Vector512.Create(probabilities[s]);
            a0 = Vector512.FusedMultiplyAdd(p, Vector512.Load(values), a0);
            a1 = Vector512.FusedMultiplyAdd(p, Vector512.Load(values + 16), a1);
            a2 = Vector512.FusedMultiplyAdd(p, Vector512.Load(values + 32), a2);
            a3 = Vector512.FusedMultiplyAdd(p, Vector512.Load(values + 48), a3);
            values += valueStride;
        }

        a0.Store(accumulators);
        a1.Store(accumulators + 16);
        a2.Store(accumulators + 32);
        a3.Store(accumulators + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values1x8(float* probabilities, float* values, int valueStride, int keys, float* accumulators)
    {
        Vector256<float> a = Vector256.Load(accumulators);
        for (int s = 0; s < keys; s++)
        {
            a = MultiplyAdd(Vector256.Create(probabilities[s]), Vector256.Load(values), a);
            values += valueStride;
        }

        a.Store(accumulators);
    }

    /// <summary>The largest of row[0..count); NaN if any is NaN (Vector256.Max and MathF.Max propagate it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float RowMax(float* row, int count)
    {
        var max = Vector256.Create(float.NegativeInfinity);
        int s = 0;
        if (Vector512.IsHardwareAccelerated && count >= 16)
        {
            var wide = Vector512.Create(float.NegativeInfinity);
            for (; s + 16 <= count; s += 16)
            {
                wide = Vector512.Max(wide, Vector512.Load(row + s));
            }

            max = Vector256.Max(wide.GetLower(), wide.GetUpper());
        }

        for (; s + 8 <= count; s += 8)
        {
            max = Vector256.Max(max, Vector256.Load(row + s));
        }

        Vector128<float> half = Vector128.Max(max.GetLower(), max.GetUpper());
        float result = MathF.Max(MathF.Max(half[0], half[1]), MathF.Max(half[2], half[3]));
        for (; s < count; s++)
        {
            result = MathF.Max(result, row[s]);
        }

        return result;
    }

    /// <summary>row[s] = exp(row[s] − max) for s &lt; count; returns their sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ExpAndSum(float* row, int count, float max)
    {
        var shift = Vector256.Create(max);
        Vector256<float> sum = default;
        int s = 0;
        if (Vector512.IsHardwareAccelerated && count >= 16)
        {
            var wideShift = Vector512.Create(max);
            Vector512<float> wideSum = default;
            for (; s + 16 <= count; s += 16)
            {
                Vector512<float> p = CpuMath.Exp(Vector512.Load(row + s) - wideShift);
                p.Store(row + s);
                wideSum += p;
            }

            sum = wideSum.GetLower() + wideSum.GetUpper();
        }

        for (; s + 8 <= count; s += 8)
        {
            Vector256<float> p = CpuMath.Exp(Vector256.Load(row + s) - shift);
            p.Store(row + s);
            sum += p;
        }

        float total = Vector256.Sum(sum);
        return s < count ? total + ExpAndSumEdge(row + s, count - s, max) : total;
    }

    /// <summary>The last 1 to 7 of a row, through masked loads and stores: the next row may begin right after it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float ExpAndSumEdge(float* row, int count, float max)
    {
        if (!Avx.IsSupported)
        {
            float total = 0f;
            for (int s = 0; s < count; s++)
            {
                row[s] = MathF.Exp(row[s] - max);
                total += row[s];
            }

            return total;
        }

        Vector256<float> mask = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle();
        Vector256<float> p = CpuMath.Exp(Avx.MaskLoad(row, mask) - Vector256.Create(max)) & mask;
        Avx.MaskStore(row, mask, p);
        return Vector256.Sum(p);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaleRow(float* row, int count, float factor) => ScaleRow(row, row, count, factor);

    /// <summary>target[s] = source[s] · factor for s &lt; count (target may be source).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaleRow(float* source, float* target, int count, float factor)
    {
        var f = Vector256.Create(factor);
        int s = 0;
        for (; s + 8 <= count; s += 8)
        {
            (Vector256.Load(source + s) * f).Store(target + s);
        }

        for (; s < count; s++)
        {
            target[s] = source[s] * factor;
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>One worker's buffers, 64-byte aligned native memory, reused across its work items.</summary>
    private sealed class Workspace : IDisposable
    {
        private readonly float* _memory;

        public Workspace(long scores, long accumulators)
        {
            long total = scores + accumulators + 2 * QueryBlock;
            _memory = (float*)NativeMemory.AlignedAlloc((nuint)(total * sizeof(float)), 64);
            Scores = _memory;
            Accumulators = Scores + scores;
            RunningMax = Accumulators + accumulators;
            RunningSum = RunningMax + QueryBlock;
        }

        public float* Scores { get; }

        public float* Accumulators { get; }

        public float* RunningMax { get; }

        public float* RunningSum { get; }

        public void Dispose() => NativeMemory.AlignedFree(_memory);
    }
}
