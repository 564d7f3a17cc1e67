/*
 * cblas_sgemm on Java float arrays without copying them: JavaCPP's binding copies every operand into native memory
 * and back (GetFloatArrayElements/Release...), which took 7-11 % of a training step (bench/RESULTS.md). Here the
 * arrays are pinned for the call (GetPrimitiveArrayCritical) and OpenBLAS reads and writes them in place, at an
 * offset, so a GEMM into a view writes that view and nothing else.
 *
 * OpenBLAS itself is the one JavaCPP has loaded (the bundled natives) and calls cblas_sgemm of: JavaCPP's
 * libjniopenblas.so needs libopenblas.so.0, which open() finds by that soname among the libraries already in the
 * process (RTLD_NOLOAD: nothing new is loaded).
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <jni.h>

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                         int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int n);
typedef char *(*corename_fn)(void);

static sgemm_fn sgemm;
static corename_fn corename;

/*
 * Finds cblas_sgemm in the OpenBLAS already loaded and makes that instance single-threaded (the CPU backend runs a
 * GEMM's blocks on threads of its own, so that the thread count never changes a result: NativeBlas); null on
 * success, else why not.
 */
JNIEXPORT jstring JNICALL Java_dev_ringtape_runtime_backend_cpu_NativeBlas_open(JNIEnv *env, jclass cls) {
    static const char *const names[] = {"libopenblas.so.0", "libopenblas_nolapack.so.0"};
    (void)cls;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *lib = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
        if (lib != NULL) {
            sgemm_fn found = (sgemm_fn)dlsym(lib, "cblas_sgemm");
            set_threads_fn set_threads = (set_threads_fn)dlsym(lib, "openblas_set_num_threads");
            if (found != NULL && set_threads != NULL) {
                set_threads(1);
                corename = (corename_fn)dlsym(lib, "openblas_get_corename");
                sgemm = found;
                return NULL;
            }
        }
    }
    return (*env)->NewStringUTF(
            env, "no loaded libopenblas.so.0 or libopenblas_nolapack.so.0 with cblas_sgemm and openblas_set_num_threads");
}

/* The kernel family OpenBLAS chose for this processor (or OPENBLAS_CORETYPE named), e.g. "Haswell"; null if unknown. */
JNIEXPORT jstring JNICALL Java_dev_ringtape_runtime_backend_cpu_NativeBlas_corename(JNIEnv *env, jclass cls) {
    (void)cls;
    return corename == NULL ? NULL : (*env)->NewStringUTF(env, corename());
}

/* The file of the OpenBLAS whose cblas_sgemm the shim calls. */
JNIEXPORT jstring JNICALL Java_dev_ringtape_runtime_backend_cpu_NativeBlas_library(JNIEnv *env, jclass cls) {
    Dl_info info;
    (void)cls;
    if (sgemm == NULL || dladdr((void *)sgemm, &info) == 0 || info.dli_fname == NULL) {
        return NULL;
    }
    return (*env)->NewStringUTF(env, info.dli_fname);
}

/* Row-major C[cOff..] = alpha op(A[aOff..]) op(B[bOff..]) + beta C[cOff..]; trans: CblasNoTrans or CblasTrans. */
JNIEXPORT void JNICALL Java_dev_ringtape_runtime_backend_cpu_NativeBlas_sgemm(
        JNIEnv *env, jclass cls, jint trans_a, jint trans_b, jint m, jint n, jint k, jfloat alpha, jfloatArray a,
        jint a_off, jint lda, jfloatArray b, jint b_off, jint ldb, jfloat beta, jfloatArray c, jint c_off, jint ldc) {
    (void)cls;
    float *pa = (*env)->GetPrimitiveArrayCritical(env, a, NULL);
    float *pb = pa == NULL ? NULL : (*env)->GetPrimitiveArrayCritical(env, b, NULL);
    float *pc = pb == NULL ? NULL : (*env)->GetPrimitiveArrayCritical(env, c, NULL);
    if (pc != NULL) {
        sgemm(101 /* CblasRowMajor */, trans_a, trans_b, m, n, k, alpha, pa + a_off, lda, pb + b_off, ldb, beta,
              pc + c_off, ldc);
        (*env)->ReleasePrimitiveArrayCritical(env, c, pc, 0);
    }
    if (pb != NULL) {
        (*env)->ReleasePrimitiveArrayCritical(env, b, pb, JNI_ABORT);
    }
    if (pa != NULL) {
        (*env)->ReleasePrimitiveArrayCritical(env, a, pa, JNI_ABORT);
    }
    if (pc == NULL) {
        jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
        if (oom != NULL) {
            (*env)->ThrowNew(env, oom, "could not pin a GEMM operand");
        }
    }
}
