using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Ops;

/// <summary>
/// A device buffer an op keeps between calls: grown on demand, reused, freed with the op. Work
/// queued on one stream may share it (in order); ops used from several streams at once need one each.
/// </summary>
internal sealed class ScratchBuffer<T>(Device device) : IDisposable
    where T : unmanaged
{
    private DeviceBuffer<T>? _buffer;

    /// <summary>
    /// How many times a buffer was freed and replaced by a larger one: work captured earlier (a CUDA
    /// graph) that points at the old one is stale once this changes.
    /// </summary>
    public int Replacements { get; private set; }

    /// <summary>A buffer of at least <paramref name="elements"/>; growing it first waits for <paramref name="stream"/>, whose queued work may still use the old one.</summary>
    public DeviceBuffer<T> AtLeast(long elements, DeviceStream? stream)
    {
        if (_buffer is null || _buffer.Length < elements)
        {
            if (_buffer is not null)
            {
                (stream ?? device.DefaultStream).Synchronize();
                _buffer.Dispose();
                _buffer = null;
                Replacements++;
            }

            _buffer = device.Allocate<T>(elements);
        }

        return _buffer;
    }

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
