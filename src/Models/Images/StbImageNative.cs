using System.Runtime.InteropServices;

namespace GpuViT.Models.Images;

/// <summary>
/// stb_image as Debian's libstb0 ships it (libstb.so.0): PNG, JPEG, BMP (and TGA, GIF, PSD, HDR,
/// PIC) decoding from memory. Every pixel buffer it returns must go back through
/// <see cref="stbi_image_free"/>; <see cref="ImageDecoder"/> is the only caller.
/// </summary>
internal static unsafe partial class StbImageNative
{
    /// <summary>The soname; the unversioned libstb.so is in the -dev package.</summary>
    public const string Library = "libstb.so.0";

    /// <summary>Decodes to 8 bits per channel; desiredChannels = 3 makes stb expand grey and drop alpha.</summary>
    [LibraryImport(Library)]
    public static partial byte* stbi_load_from_memory(byte* buffer, int length, out int x, out int y, out int channelsInFile, int desiredChannels);

    /// <summary>Reads the header only: the size, without decoding (used to refuse huge images first).</summary>
    [LibraryImport(Library)]
    public static partial int stbi_info_from_memory(byte* buffer, int length, out int x, out int y, out int channels);

    [LibraryImport(Library)]
    public static partial void stbi_image_free(byte* pixels);

    /// <summary>A static string describing the last failure on this thread; never freed.</summary>
    [LibraryImport(Library)]
    public static partial byte* stbi_failure_reason();

    public static string FailureReason()
    {
        byte* reason = stbi_failure_reason();
        return reason == null ? "unknown error" : Marshal.PtrToStringUTF8((nint)reason) ?? "unknown error";
    }
}
