/* farm-mark-unique FILE: make sure the shared object FILE carries DT_GNU_FLAGS_1 with
   DF_GNU_1_UNIQUE, the flag `ld -z unique` writes and the RTLD_SHARED series honours.

   Why: binutils 2.35 and older (Debian bullseye) accept `-z unique` with a warning and
   write nothing, so on such a toolchain the unique/ cases would test nothing, and a case
   whose own precondition fails must not be charged to glibc.  The dynamic section GNU ld
   writes ends in spare DT_NULL entries (`--spare-dynamic-tags`, 5 by default) for exactly
   this kind of post-link editing (prelink used them): the first spare entry becomes
   DT_GNU_FLAGS_1, and the DT_NULL after it still ends the section.  Nothing moves, so no
   other offset in the file changes.

   The tool runs on the build machine, not against the glibc under test: it is built with
   the image's own gcc for the image's native class and edits objects of either class,
   ELFCLASS32 (i686) and ELFCLASS64 (x86_64), little-endian as both are.

   It prints one "farm: ..." line saying who wrote the flag, and exits
     0   the flag is there: written by the linker, or now by this tool;
     77  the object has no spare DT_NULL entry (a linker that leaves none): the case's
         precondition cannot be met here, so it is UNSUPPORTED, with the reason printed;
     1   anything else (not a little-endian ELF shared object, I/O error).  */

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gnu_flags_1.h"

static const char *file_name;

static void __attribute__ ((noreturn, format (printf, 1, 2)))
fail (const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  printf ("farm: farm-mark-unique: %s: ", file_name);
  vprintf (fmt, args);
  putchar ('\n');
  va_end (args);
  exit (1);
}

/* Little-endian field access, independent of the tool's own class.  */
static uint64_t
get (const unsigned char *p, size_t size)
{
  uint64_t value = 0;
  for (size_t i = size; i-- > 0;)
    value = value << 8 | p[i];
  return value;
}

static void
put (unsigned char *p, size_t size, uint64_t value)
{
  for (size_t i = 0; i < size; ++i, value >>= 8)
    p[i] = value & 0xff;
}

/* The layout of the parts we touch, per class: offsets in the ELF header and program header,
   and the size of an address-sized field (d_tag, d_val, p_offset, p_filesz).  */
struct layout
{
  size_t word;
  size_t e_phoff, e_phentsize, e_phnum;
  size_t p_offset, p_filesz;
};

static const struct layout layout32 = { 4, 28, 42, 44, 4, 16 };
static const struct layout layout64 = { 8, 32, 54, 56, 8, 32 };

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: farm-mark-unique FILE.so\n");
      return 1;
    }
  file_name = argv[1];
  FILE *file = fopen (file_name, "r+b");
  if (file == NULL)
    fail ("cannot open: %s", strerror (errno));
  if (fseek (file, 0, SEEK_END) != 0)
    fail ("cannot seek: %s", strerror (errno));
  long length = ftell (file);
  if (length < EI_NIDENT)
    fail ("too short to be an ELF object");
  unsigned char *image = malloc (length);
  if (image == NULL)
    fail ("out of memory");
  rewind (file);
  if (fread (image, 1, length, file) != (size_t) length)
    fail ("cannot read: %s", strerror (errno));

  if (memcmp (image, ELFMAG, SELFMAG) != 0)
    fail ("not an ELF file");
  if (image[EI_DATA] != ELFDATA2LSB)
    fail ("not little-endian; only x86 objects are expected here");
  const struct layout *l;
  if (image[EI_CLASS] == ELFCLASS32)
    l = &layout32;
  else if (image[EI_CLASS] == ELFCLASS64)
    l = &layout64;
  else
    fail ("unknown ELF class %d", image[EI_CLASS]);
  if ((size_t) length < (l->word == 4 ? sizeof (Elf32_Ehdr) : sizeof (Elf64_Ehdr)))
    fail ("truncated ELF header");
  if (get (image + 16, 2) != ET_DYN)
    fail ("not a shared object (e_type %llu)", (unsigned long long) get (image + 16, 2));

  uint64_t phoff = get (image + l->e_phoff, l->word);
  uint64_t phentsize = get (image + l->e_phentsize, 2);
  uint64_t phnum = get (image + l->e_phnum, 2);
  if (phentsize < (l->word == 4 ? sizeof (Elf32_Phdr) : sizeof (Elf64_Phdr)))
    fail ("program header entries of %llu bytes are too small",
          (unsigned long long) phentsize);
  if (phoff > (uint64_t) length || phnum * phentsize > (uint64_t) length - phoff)
    fail ("program headers lie outside the file");
  uint64_t dyn_offset = 0, dyn_size = 0;
  for (uint64_t i = 0; i < phnum; ++i)
    {
      const unsigned char *ph = image + phoff + i * phentsize;
      /* A PIE is ET_DYN too; the flag means nothing there, and editing a program by
         mistake must not happen.  */
      if (get (ph, 4) == PT_INTERP)
        fail ("an executable (it has PT_INTERP), not a shared library");
      if (get (ph, 4) == PT_DYNAMIC)
        {
          dyn_offset = get (ph + l->p_offset, l->word);
          dyn_size = get (ph + l->p_filesz, l->word);
        }
    }
  if (dyn_size == 0)
    fail ("no PT_DYNAMIC segment");
  if (dyn_offset > (uint64_t) length || dyn_size > (uint64_t) length - dyn_offset)
    fail ("the dynamic segment lies outside the file");

  size_t entry = 2 * l->word;
  uint64_t count = dyn_size / entry;
  unsigned char *dynamic = image + dyn_offset;
  uint64_t first_null = count;
  for (uint64_t i = 0; i < count; ++i)
    {
      unsigned char *d = dynamic + i * entry;
      uint64_t tag = get (d, l->word);
      if (tag == DT_GNU_FLAGS_1)
        {
          uint64_t flags = get (d + l->word, l->word);
          if (flags & DF_GNU_1_UNIQUE)
            {
              printf ("farm: %s: DF_GNU_1_UNIQUE written by the linker\n", file_name);
              return 0;
            }
          /* The linker wrote other GNU flags: add ours to them in place.  */
          put (d + l->word, l->word, flags | DF_GNU_1_UNIQUE);
          first_null = i;
          break;
        }
      if (tag == DT_NULL)
        {
          first_null = i;
          break;
        }
    }
  /* Our entry goes into the first DT_NULL, and a DT_NULL must still follow it to end the
     section.  (With --spare-dynamic-tags=0 GNU ld writes no DT_NULL at all.)  */
  if (first_null + 1 >= count)
    {
      printf ("UNSUPPORTED: %s: the linker did not write DT_GNU_FLAGS_1 for -z unique "
              "and left no spare DT_NULL entry to add it (%llu entries, the first DT_NULL "
              "at %llu): link with --spare-dynamic-tags=2 or more, or use binutils 2.36 or "
              "newer\n", file_name, (unsigned long long) count,
              (unsigned long long) first_null);
      return 77;
    }
  unsigned char *slot = dynamic + first_null * entry;
  if (get (slot, l->word) == DT_NULL)
    {
      put (slot, l->word, DT_GNU_FLAGS_1);
      put (slot + l->word, l->word, DF_GNU_1_UNIQUE);
    }
  if (fseek (file, dyn_offset, SEEK_SET) != 0
      || fwrite (dynamic, 1, dyn_size, file) != dyn_size || fclose (file) != 0)
    fail ("cannot write the dynamic section back: %s", strerror (errno));
  printf ("farm: %s: the linker did not write DF_GNU_1_UNIQUE; farm-mark-unique wrote "
          "DT_GNU_FLAGS_1 into dynamic entry %llu of %llu (ELFCLASS%d)\n", file_name,
          (unsigned long long) first_null, (unsigned long long) count,
          image[EI_CLASS] == ELFCLASS32 ? 32 : 64);
  return 0;
}
