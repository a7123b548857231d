using System.Runtime.InteropServices;

namespace GpuViT.Bench;

/// <summary>
/// OpenBLAS's sgemm, called in process as the peer of the cpu GEMM (Debian: libopenblas0-pthread).
/// Its kernel follows the CPU unless OPENBLAS_CORETYPE forces one; <see cref="CoreName"/> says which.
/// </summary>
internal static unsafe partial class OpenBlas
{
    private const string Library = "libopenblas.so.0";
    private const int RowMajor = 101, NoTranspose = 111, Transpose = 112;

    public static bool IsAvailable => NativeLibrary.TryLoad(Library, out _);

    public static string CoreName => Marshal.PtrToStringAnsi((nint)openblas_get_corename()) ?? "?";

    public static void SetThreads(int threads) => openblas_set_num_threads(threads);

    /// <summary>Y[m, n] = X[m, k]·W[n, k]ᵀ, dense, as the cpu GEMM's Linear layout.</summary>
    public static void LinearGemm(int m, int n, int k, float* x, float* w, float* y) =>
        cblas_sgemm(RowMajor, NoTranspose, Transpose, m, n, k, 1f, x, k, w, k, 0f, y, n);

    [LibraryImport(Library)]
    private static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Library)]
    private static partial void openblas_set_num_threads(int threads);

    [LibraryImport(Library)]
    private static partial byte* openblas_get_corename();
}
